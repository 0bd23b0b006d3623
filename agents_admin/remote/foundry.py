"""A client for a Foundry Agent Service project (the "classic" Agents REST API), over httpx.

Framework-free (no Django here): the sync engine and the services build a ``FoundryClient`` from a
``FoundryConfig`` and speak to it in plain dicts, exactly as the wire contract shapes them
(/work/shared/reference/foundry-agents-api.md; sections are cited as "ref §n").

Contracts worth knowing:

- One ``httpx.Client`` per worker process and TLS setting, created lazily, pooled, with explicit timeouts.
  A forked child gets its own (sockets must not be shared across processes).
- Retries: 429, 408 and 5xx responses, timeouts and connection errors are retried with exponential backoff
  and jitter, honouring ``Retry-After`` / ``retry-after-ms``, at most ``max_attempts`` times in all.
- Writes are not blindly repeated. A POST that failed *before* reaching the server (connect error, 429) is
  sent again. A POST that may have been processed (read timeout, 5xx, connection cut after sending) is
  first *recovered*: creates carry a client-generated marker ``metadata["aa_request_id"]`` and the client
  looks for an object holding that marker among the newest ones before creating again (a create whose
  metadata is already at the 16-pair limit goes without one, and is not resent after an ambiguous failure).
  Updates, cancels and tool-output submissions have their own checks (see the methods).
- Paging follows ``after=<last_id>`` while ``has_more`` is true and stops on a null/empty ``last_id``
  (ref §3.3: a server echoing a cursor on an empty page would otherwise loop forever).
- Errors are typed (``FoundryError`` and subclasses) and carry the HTTP status and the service's
  ``error.code``/``error.message``/``error.param``. They never contain credentials.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from agents_admin.lib.text import json_text_problem, scrub_json

logger = logging.getLogger(__name__)

API_VERSION = "v1"
TOKEN_SCOPE = "https://ai.azure.com/.default"
# The metadata key that makes a create recognisable after an ambiguous failure.
REQUEST_ID_KEY = "aa_request_id"
# The contract's limit on metadata pairs (ref §4.8): a create already at it has no room for the marker.
METADATA_MAX_PAIRS = 16
# A token is renewed this many seconds before it expires, so a request never carries a dying one.
TOKEN_REFRESH_MARGIN_SECONDS = 300

TERMINAL_RUN_STATUSES = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

JSON = dict[str, Any]


# --- errors -----------------------------------------------------------------------------------------------


# The v2 agent routes' api-version (the GA clients'); the /openai/v1 routes ignore it.
V2_API_VERSION = "v1"


def is_conversation_id(remote_id: str) -> bool:
    """A v2 conversation (``conv_…``), read and deleted through ``/openai/v1/conversations``, not ``/threads``."""
    return remote_id.startswith("conv_")


class FoundryError(Exception):
    """Any failure talking to the remote. ``status`` is None when no HTTP response was received."""

    transient = False
    # Seconds the server asked us to wait (Retry-After), on throttling and 5xx answers.
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        status = f"HTTP {self.status} " if self.status else ""
        code = f"({self.code}) " if self.code else ""
        return f"{where}{status}{code}{self.message}"


class FoundryBadRequest(FoundryError):
    """400: the remote refused the input (or the state, e.g. an active run on the thread)."""


class FoundryAuthError(FoundryError):
    """401/403, or no token could be obtained: wrong credential, or a missing role on the project."""


class FoundryNotFound(FoundryError):
    """404: the object (or the project endpoint) does not exist on the remote."""


class FoundryConflict(FoundryError):
    """409."""


class FoundryThrottled(FoundryError):
    """429 after every attempt."""

    transient = True


class FoundryServerError(FoundryError):
    """5xx after every attempt."""

    transient = True


class FoundryUnavailable(FoundryError):
    """No response: timeouts or connection errors after every attempt."""

    transient = True


class FoundryProtocolError(FoundryError):
    """A response that does not follow the contract (not JSON, missing fields)."""


# --- authentication -------------------------------------------------------------------------------------


class TokenCredential(Protocol):
    """What azure-identity credentials offer (``get_token(*scopes) -> AccessToken``)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class Auth(Protocol):
    def header(self) -> str:
        """The value of the Authorization header for the next request."""
        ...

    def invalidate(self) -> None:
        """Forget any cached token (after a 401)."""
        ...


class ApiKeyAuth:
    """``Authorization: Bearer <key>``: for our own service, which speaks the same contract with API keys."""

    def __init__(self, key: str) -> None:
        self._key = key

    def header(self) -> str:
        return f"Bearer {self._key}"

    def invalidate(self) -> None:
        return None

    def __repr__(self) -> str:  # never show the key
        return "ApiKeyAuth(***)"


class BearerTokenAuth:
    """Entra ID tokens from a TokenCredential, cached until ``TOKEN_REFRESH_MARGIN_SECONDS`` before expiry.

    Thread-safe: concurrent requests share one token and at most one of them asks the credential.
    """

    def __init__(
        self,
        credential: TokenCredential,
        scope: str = TOKEN_SCOPE,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credential = credential
        self.scope = scope
        self._clock = clock
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def header(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_on - TOKEN_REFRESH_MARGIN_SECONDS:
                try:
                    access = self.credential.get_token(self.scope)
                except Exception as exc:  # azure-identity raises its own ClientAuthenticationError family
                    # azure-identity's text says which sources it tried and why each failed (no secrets in it).
                    detail = " ".join(str(exc).split())[:600]
                    raise FoundryAuthError(
                        f"Could not get a token for {self.scope}: {type(exc).__name__}: {detail}"
                    ) from exc
                self._token = str(access.token)
                self._expires_on = float(access.expires_on)
            return f"Bearer {self._token}"

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def __repr__(self) -> str:
        return f"BearerTokenAuth({type(self.credential).__name__}, {self.scope})"


AUTH_KINDS = ("default", "client_secret", "managed_identity", "workload_identity", "api_key")


def credential_for(
    kind: str, *, tenant_id: str = "", client_id: str = "", secret: str = "", token_file: str = ""
) -> TokenCredential:
    """An azure-identity credential for ``kind`` (one of AUTH_KINDS except api_key)."""
    import azure.identity as identity  # imported here: it is slow to import and only Entra modes need it

    if kind == "default":
        return identity.DefaultAzureCredential(**({"managed_identity_client_id": client_id} if client_id else {}))
    if kind == "client_secret":
        if not (tenant_id and client_id and secret):
            raise FoundryAuthError("A client secret credential needs a tenant id, a client id and a secret.")
        return identity.ClientSecretCredential(tenant_id, client_id, secret)
    if kind == "managed_identity":
        if client_id:  # a user-assigned identity; without it, the system-assigned one
            return identity.ManagedIdentityCredential(client_id=client_id)
        return identity.ManagedIdentityCredential()
    if kind == "workload_identity":
        # Without arguments it reads AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE.
        kwargs = {
            k: v
            for k, v in {"tenant_id": tenant_id, "client_id": client_id, "token_file_path": token_file}.items()
            if v
        }
        return identity.WorkloadIdentityCredential(**kwargs)
    raise FoundryAuthError(f"Unknown auth kind '{kind}'.")


# --- transport --------------------------------------------------------------------------------------------


DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=10.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30.0)

_clients: dict[tuple[int, str | bool], httpx.Client] = {}
_clients_lock = threading.Lock()


def http_client(verify: str | bool = True) -> httpx.Client:
    """The process's pooled httpx client for this TLS setting (created on first use, one per forked child)."""
    key = (os.getpid(), verify)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                # A CA bundle path becomes an SSL context (httpx deprecates verify=<str>).
                tls: ssl.SSLContext | bool = (
                    ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
                )
                client = httpx.Client(timeout=DEFAULT_TIMEOUT, limits=DEFAULT_LIMITS, verify=tls)
                _clients[key] = client
    return client


@dataclass
class FoundryConfig:
    """Where and how to reach one project. ``endpoint`` is ``https://<res>.services.ai.azure.com/api/projects/<p>``."""

    endpoint: str
    auth: Auth
    api_version: str = API_VERSION
    verify: str | bool = True
    timeout: httpx.Timeout | None = None  # None: the pooled client's defaults
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    # A Retry-After longer than this is not waited for: the call fails as throttled instead.
    max_retry_after: float = 60.0
    # How many of the newest objects are searched for a create's marker after an ambiguous failure.
    recovery_window: int = 20
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    user_agent: str = "agents-admin-foundry/1"


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP date."""
    raw_ms = response.headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def backoff_seconds(attempt: int, *, base: float, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with "equal jitter" for ``attempt`` (1-based); never less than Retry-After."""
    exp = min(cap, base * (2 ** (attempt - 1)))
    delay = exp / 2 + random.uniform(0, exp / 2)
    return max(delay, retry_after) if retry_after is not None else delay


def _error_from(response: httpx.Response, method: str, path: str) -> FoundryError:
    status = response.status_code
    code = message = param = None
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code, message, param = error.get("code"), error.get("message"), error.get("param")
    except ValueError:
        pass
    message = message or response.reason_phrase or "error"
    kwargs: dict[str, Any] = {
        "status": status,
        "code": str(code) if code else None,
        "param": param,
        "method": method,
        "path": path,
    }
    if status in (401, 403):
        return FoundryAuthError(message, **kwargs)
    if status == 404:
        return FoundryNotFound(message, **kwargs)
    if status == 409:
        return FoundryConflict(message, **kwargs)
    if status == 429:
        return FoundryThrottled(message, **kwargs)
    if status >= 500:
        return FoundryServerError(message, **kwargs)
    if status == 400:
        return FoundryBadRequest(message, **kwargs)
    return FoundryError(message, **kwargs)


class _Ambiguous(Exception):
    """A write may or may not have been applied; carries the error to raise if recovery finds nothing."""

    def __init__(self, error: FoundryError) -> None:
        super().__init__(str(error))
        self.error = error


# Transport errors raised before any byte of the request could reach the server: always safe to resend.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _item_signature(item: JSON) -> tuple[str, str]:
    """A message item's role and text, whichever content form it has (a string or typed parts)."""
    content = item.get("content")
    if isinstance(content, list):
        content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return str(item.get("role") or ""), str(content or "")


class FoundryClient:
    """Operations on one project. Cheap to build; the connection pool is per process (``http_client``)."""

    def __init__(self, config: FoundryConfig, *, http: httpx.Client | None = None) -> None:
        self.config = config
        self.base = config.endpoint.rstrip("/")
        self._http = http

    @property
    def http(self) -> httpx.Client:
        return self._http or http_client(self.config.verify)

    # --- the request loop ---------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, params: dict[str, Any] | None, body: JSON | None) -> httpx.Response:
        query = {"api-version": self.config.api_version, **{k: v for k, v in (params or {}).items() if v is not None}}
        headers = {
            "Authorization": self.config.auth.header(),
            "Accept": "application/json",
            "User-Agent": self.config.user_agent,
            "x-ms-client-request-id": str(uuid.uuid4()),
        }
        kwargs: dict[str, Any] = {"params": query, "headers": headers}
        if body is not None:
            kwargs["json"] = body
        if self.config.timeout is not None:
            kwargs["timeout"] = self.config.timeout
        return self.http.request(method, self.base + path, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: JSON | None = None,
        recover: Callable[[], JSON | None] | None = None,
        resend_after_ambiguous: bool = False,
    ) -> JSON:
        """One call with retries. Returns the JSON object of a 200 response.

        For POSTs, an ambiguous failure (the server may have processed the request) calls ``recover``: a
        dict it returns is taken as the result; None means "not applied", and the request is sent again.
        Without ``recover``, a POST is only resent when ``resend_after_ambiguous`` says repeating is harmless.
        """
        idempotent = method in ("GET", "DELETE", "HEAD")
        attempt = 0
        reauthenticated = False
        while True:
            attempt += 1
            try:
                return self._attempt(method, path, params=params, body=body, idempotent=idempotent)
            except _Ambiguous as ambiguous:
                pending = ambiguous.error
                if recover is not None:
                    found = recover()
                    if found is not None:
                        logger.info("%s %s: recovered the object created before the failure", method, path)
                        return found
                elif not resend_after_ambiguous:
                    raise pending from None
            except FoundryAuthError as error:
                # One fresh token is worth a try (a revoked or rotated one); a second 401 is final.
                if error.status == 401 and not reauthenticated:
                    reauthenticated = True
                    self.config.auth.invalidate()
                    attempt -= 1
                    continue
                raise
            except FoundryError as error:
                if not error.transient or attempt >= self.config.max_attempts:
                    raise
                if error.retry_after is not None and error.retry_after > self.config.max_retry_after:
                    raise
                self._wait(attempt, error.retry_after, error)
                continue
            # Only an ambiguous write that was not found by ``recover`` (or may be resent) gets here.
            if attempt >= self.config.max_attempts:
                raise pending
            self._wait(attempt, pending.retry_after, pending)

    def _wait(self, attempt: int, retry_after: float | None, error: FoundryError) -> None:
        delay = backoff_seconds(
            attempt, base=self.config.backoff_base, cap=self.config.backoff_cap, retry_after=retry_after
        )
        logger.info("retrying after %s (attempt %d, waiting %.2fs)", error, attempt, delay)
        self.config.sleep(delay)

    def _attempt(
        self, method: str, path: str, *, params: dict[str, Any] | None, body: JSON | None, idempotent: bool
    ) -> JSON:
        try:
            response = self._send(method, path, params=params, body=body)
        except _NOT_SENT as exc:
            # The transport's text (e.g. a certificate problem) is what an admin needs; it holds no headers.
            detail = str(exc) or "could not connect"
            raise FoundryUnavailable(f"{type(exc).__name__}: {detail}", method=method, path=path) from exc
        except httpx.TransportError as exc:
            # Read timeouts, a connection cut mid-response: the server may have acted on the request.
            lost = FoundryUnavailable(f"{type(exc).__name__}: no complete response", method=method, path=path)
            if idempotent:
                raise lost from exc
            raise _Ambiguous(lost) from exc
        if response.status_code == 200:
            try:
                data = response.json()
            except ValueError as exc:
                raise FoundryProtocolError("The response is not JSON.", status=200, method=method, path=path) from exc
            if not isinstance(data, dict):
                raise FoundryProtocolError("The response is not a JSON object.", status=200, method=method, path=path)
            # Mirrored as received: a lone surrogate or NUL from the remote becomes U+FFFD / nothing rather than
            # failing the sync at insert (PostgreSQL) or every page that shows the text later.
            return scrub_json(data) if json_text_problem(data) else data
        error = _error_from(response, method, path)
        if response.status_code in RETRYABLE_STATUSES:
            error.retry_after = retry_after_seconds(response)
            # A 429 (and 408) means the request was turned away before being processed; a 5xx may have been
            # processed (ref §7.2: the service may fail after creating a run or a message).
            if not idempotent and response.status_code >= 500:
                ambiguous = _Ambiguous(error)
                raise ambiguous
            if response.status_code == 408:
                error.transient = True
        raise error

    # --- paging -------------------------------------------------------------------------------------------

    def iter_pages(self, path: str, *, params: dict[str, Any] | None = None) -> Iterator[list[JSON]]:
        """Each page's ``data``, following ``after=<last_id>`` while has_more; stops on a null ``last_id``.

        The caller may stop early (a generator); a resumable caller records the last id it has processed.
        """
        query = dict(params or {})
        while True:
            page = self.request("GET", path, params=query)
            data = page.get("data")
            if not isinstance(data, list):
                raise FoundryProtocolError("A list response has no 'data' array.", method="GET", path=path)
            if data:
                yield data
            last_id = page.get("last_id")
            if not page.get("has_more") or not last_id or not data:
                return
            query["after"] = last_id

    def iter_all(self, path: str, *, params: dict[str, Any] | None = None) -> Iterator[JSON]:
        for page in self.iter_pages(path, params=params):
            yield from page

    # --- creates with recovery ----------------------------------------------------------------------------

    def _create(
        self,
        path: str,
        body: JSON,
        list_path: str,
        list_params: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
    ) -> JSON:
        """POST a create whose body carries a fresh marker; after an ambiguous failure, look for it first."""
        metadata = dict(body.get("metadata") or {})
        if len(metadata) >= METADATA_MAX_PAIRS:
            # No room for the marker: the remote would refuse a 17th pair. Sent as given, and an ambiguous
            # failure is reported rather than resent (it cannot be told apart from a create that happened).
            return self.request("POST", path, params=params, body=body)
        marker = uuid.uuid4().hex
        metadata[REQUEST_ID_KEY] = marker
        body = {**body, "metadata": metadata}

        def recover() -> JSON | None:
            params = {"order": "desc", "limit": self.config.recovery_window, **(list_params or {})}
            page = self.request("GET", list_path, params=params)
            for item in page.get("data") or []:
                if (item.get("metadata") or {}).get(REQUEST_ID_KEY) == marker:
                    return dict(item)
            return None

        return self.request("POST", path, params=params, body=body, recover=recover)

    # --- agents (ref §2 A1-A5) ------------------------------------------------------------------------------

    def agents(self, *, order: str = "desc", limit: int = 100) -> Iterator[JSON]:
        return self.iter_all("/assistants", params={"order": order, "limit": limit})

    def agent_get(self, agent_id: str) -> JSON:
        return self.request("GET", f"/assistants/{agent_id}")

    def agent_create(self, body: JSON) -> JSON:
        return self._create("/assistants", body, "/assistants")

    def agent_update(self, agent_id: str, body: JSON) -> JSON:
        # Setting the same fields twice gives the same agent: safe to resend after an ambiguous failure.
        return self.request("POST", f"/assistants/{agent_id}", body=body, resend_after_ambiguous=True)

    def agent_delete(self, agent_id: str) -> JSON:
        return self.request("DELETE", f"/assistants/{agent_id}")

    # --- threads (T1-T5) ----------------------------------------------------------------------------------

    def threads(self, *, order: str = "desc", limit: int = 100) -> Iterator[list[JSON]]:
        return self.iter_pages("/threads", params={"order": order, "limit": limit})

    def thread_get(self, thread_id: str) -> JSON:
        return self.request("GET", f"/threads/{thread_id}")

    def thread_create(self, body: JSON | None = None) -> JSON:
        return self._create("/threads", body or {}, "/threads")

    def thread_delete(self, thread_id: str) -> JSON:
        return self.request("DELETE", f"/threads/{thread_id}")

    # --- messages (M1-M4) ---------------------------------------------------------------------------------

    def messages(self, thread_id: str, *, after: str | None = None, run_id: str | None = None) -> Iterator[JSON]:
        """Messages oldest first, starting after ``after`` (a message id) when given."""
        params = {"order": "asc", "limit": 100, "after": after, "run_id": run_id}
        return self.iter_all(f"/threads/{thread_id}/messages", params=params)

    def message_create(self, thread_id: str, body: JSON) -> JSON:
        path = f"/threads/{thread_id}/messages"
        return self._create(path, body, path)

    # --- runs (R1-R6) and steps (S1) ----------------------------------------------------------------------

    def runs(self, thread_id: str, *, after: str | None = None) -> Iterator[JSON]:
        return self.iter_all(f"/threads/{thread_id}/runs", params={"order": "asc", "limit": 100, "after": after})

    def run_get(self, thread_id: str, run_id: str) -> JSON:
        return self.request("GET", f"/threads/{thread_id}/runs/{run_id}")

    def run_create(self, thread_id: str, body: JSON) -> JSON:
        path = f"/threads/{thread_id}/runs"
        return self._create(path, {**body, "stream": False}, path)

    # --- the v2 protocol: agents by name with versions, conversations and their items -----------------------

    def agents_v2(self) -> Iterator[JSON]:
        """``GET /agents`` (api-version v1): every agent, ``versions.latest`` included."""
        return self.iter_all("/agents", params={"api-version": V2_API_VERSION, "limit": 100})

    def agent_versions_v2(self, name: str) -> Iterator[JSON]:
        return self.iter_all(
            f"/agents/{name}/versions", params={"api-version": V2_API_VERSION, "order": "asc", "limit": 100}
        )

    def conversations(self) -> Iterator[list[JSON]]:
        """``GET /openai/v1/conversations`` (Foundry's list), newest first."""
        return self.iter_pages("/openai/v1/conversations", params={"order": "desc", "limit": 100})

    def conversation_items(self, conversation_id: str, *, after: str | None = None) -> Iterator[list[JSON]]:
        params = {"order": "asc", "limit": 100, "after": after}
        return self.iter_pages(f"/openai/v1/conversations/{conversation_id}/items", params=params)

    def agent_version_create_v2(self, name: str, body: JSON) -> JSON:
        """``POST /agents/{name}/versions``; after an ambiguous failure, the newest version carrying the marker."""
        path = f"/agents/{name}/versions"
        params = {"api-version": V2_API_VERSION}
        return self._create(path, body, path, {**params, "order": "desc"}, params=params)

    def conversation_create(self, body: JSON) -> JSON:
        """``POST /openai/v1/conversations`` (up to 20 items); recovered through Foundry's conversation list."""
        return self._create("/openai/v1/conversations", body, "/openai/v1/conversations")

    def conversation_items_create(self, conversation_id: str, items: list[JSON]) -> JSON:
        """``POST /openai/v1/conversations/{id}/items``. Items carry no marker: after an ambiguous failure, a
        newest item with the last item's role and text means the batch arrived."""
        path = f"/openai/v1/conversations/{conversation_id}/items"

        def recover() -> JSON | None:
            newest = (self.request("GET", path, params={"order": "desc", "limit": 1}).get("data") or [None])[0]
            if isinstance(newest, dict) and _item_signature(newest) == _item_signature(items[-1]):
                return {"object": "list", "data": [newest]}
            return None

        return self.request("POST", path, body={"items": items}, recover=recover)

    def responses(self, conversation_id: str, *, after: str | None = None) -> Iterator[JSON]:
        """Foundry's ``GET /openai/v1/responses?conversation_id=``: a conversation's responses, oldest first."""
        params = {"conversation_id": conversation_id, "order": "asc", "limit": 100, "after": after}
        return self.iter_all("/openai/v1/responses", params=params)

    def response_get(self, response_id: str) -> JSON:
        return self.request("GET", f"/openai/v1/responses/{response_id}")

    def conversation_delete(self, conversation_id: str) -> JSON:
        return self.request("DELETE", f"/openai/v1/conversations/{conversation_id}")

    def run_cancel(self, thread_id: str, run_id: str) -> JSON:
        # Cancelling twice is harmless (the second sees cancelling/cancelled, or a 400 "already ended").
        return self.request("POST", f"/threads/{thread_id}/runs/{run_id}/cancel", resend_after_ambiguous=True)

    def run_submit_tool_outputs(self, thread_id: str, run_id: str, tool_outputs: list[JSON]) -> JSON:
        """Submit outputs; after an ambiguous failure, a run no longer waiting for them means they arrived."""

        def recover() -> JSON | None:
            run = self.run_get(thread_id, run_id)
            return None if run.get("status") == "requires_action" else run

        path = f"/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"
        return self.request("POST", path, body={"tool_outputs": tool_outputs, "stream": False}, recover=recover)

    def run_steps(self, thread_id: str, run_id: str) -> Iterator[JSON]:
        return self.iter_all(f"/threads/{thread_id}/runs/{run_id}/steps", params={"order": "asc", "limit": 100})

    # --- connection check -----------------------------------------------------------------------------------

    def check(self) -> str:
        """One cheap authenticated call; returns a summary or raises the typed error."""
        page = self.request("GET", "/assistants", params={"limit": 1})
        if not isinstance(page.get("data"), list):
            raise FoundryProtocolError("GET /assistants did not return a list.", method="GET", path="/assistants")
        return f"Connected: {self.base} answered GET /assistants (api-version={self.config.api_version})."
