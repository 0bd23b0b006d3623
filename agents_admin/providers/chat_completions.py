"""Models behind the chat-completions wire format, over httpx: OpenAI-compatible servers and Azure OpenAI.

Framework-free (no ORM). One pooled ``httpx.Client`` per process, made lazily (and again after a fork, so a
Celery prefork child never shares its parent's sockets). Every failure becomes a typed ProviderError:
429/5xx/timeouts/connection errors are transient (with the server's Retry-After), the rest are permanent with
a code the run's last_error shows. Secrets live only in headers and are never logged or put in a repr.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from agents_admin.lib.text import scrub_json
from agents_admin.providers.base import (
    ChatMessage,
    Checkpoint,
    ModelReply,
    ModelRequest,
    PermanentProviderError,
    ProviderError,
    ToolCall,
    TransientProviderError,
    Usage,
)
from agents_admin.providers.offline import count_tokens

logger = logging.getLogger(__name__)

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
DEFAULT_AZURE_API_VERSION = "2024-10-21"
# Connect and pool waits are short (a dead host should fail fast and be retried); the read timeout is per
# connection, since a large local model can think for a long time before its first token.
CONNECT_TIMEOUT = 10.0
WRITE_TIMEOUT = 30.0
POOL_TIMEOUT = 10.0
# Refresh an Entra token this long before it expires, so a call never goes out with a dying token.
TOKEN_REFRESH_MARGIN = 300
# Error bodies are quoted in last_error; keep them readable.
MAX_ERROR_TEXT = 500

_client_lock = threading.Lock()
_client: tuple[int, httpx.Client] | None = None


def http_client() -> httpx.Client:
    """This process's pooled client (created on first use, and afresh in a forked child)."""
    global _client
    with _client_lock:
        if _client is None or _client[0] != os.getpid():
            client = httpx.Client(
                timeout=httpx.Timeout(120.0, connect=CONNECT_TIMEOUT, write=WRITE_TIMEOUT, pool=POOL_TIMEOUT),
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=10, keepalive_expiry=30),
                follow_redirects=False,
            )
            _client = (os.getpid(), client)
        return _client[1]


# --- auth ----------------------------------------------------------------------------------------------


class Auth(Protocol):
    def headers(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class HeaderAuth:
    """A fixed header: ``api-key: …`` for Azure, ``Authorization: Bearer …`` for OpenAI-compatible servers."""

    name: str
    value: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        return {self.name: self.value} if self.value else {}


class TokenCredential(Protocol):
    def get_token(self, *scopes: str) -> Any: ...


class EntraTokenAuth:
    """A bearer token from an azure-identity credential, cached until shortly before it expires.

    One instance per connection per process; the lock makes concurrent threads share one refresh.
    """

    def __init__(self, credential: TokenCredential, scope: str = AZURE_SCOPE) -> None:
        self.credential = credential
        self.scope = scope
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EntraTokenAuth(scope={self.scope!r})"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._expires_on - time.time() < TOKEN_REFRESH_MARGIN:
                try:
                    access = self.credential.get_token(self.scope)
                except Exception as exc:  # azure-identity raises several types; all mean "no token"
                    raise PermanentProviderError(
                        "auth_error", f"Could not get a Microsoft Entra token: {_first_line(str(exc))}"
                    ) from exc
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token


# --- the provider -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatCompletionsProvider:
    """One model deployment reached over chat completions.

    ``url`` is the full chat-completions URL; ``model`` the name sent in the body (None for Azure, where the
    deployment in the URL decides). ``max_tokens_field`` is what the server calls the completion limit.
    """

    url: str
    auth: Auth
    model: str | None = None
    context_window: int = 128_000
    read_timeout: float = 120.0
    stream: bool = True
    accepts_images: bool = True
    max_tokens_field: str = "max_completion_tokens"
    params: dict[str, str] = field(default_factory=dict)

    def complete(self, request: ModelRequest, checkpoint: Checkpoint) -> ModelReply:
        body = self._body(request)
        timeout = httpx.Timeout(self.read_timeout, connect=CONNECT_TIMEOUT, write=WRITE_TIMEOUT, pool=POOL_TIMEOUT)
        headers = {"Content-Type": "application/json", **self.auth.headers()}
        client = http_client()
        try:
            if not self.stream:
                response = client.post(self.url, params=self.params, json=body, headers=headers, timeout=timeout)
                _raise_for_status(response)
                return _reply_from_json(response, request)
            with client.stream(
                "POST", self.url, params=self.params, json=body, headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for_status(response)
                if response.headers.get("content-type", "").startswith("application/json"):
                    # Some servers ignore "stream": true and answer in one piece.
                    response.read()
                    return _reply_from_json(response, request)
                return _reply_from_stream(response, request, checkpoint)
        except httpx.TransportError as exc:
            raise transport_error(exc, endpoint="model endpoint") from exc

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"messages": [_wire_message(m) for m in request.messages]}
        if self.model:
            body["model"] = self.model
        functions = [t for t in request.tools if t.get("type") == "function" and "function" in t]
        if functions:
            body["tools"] = [{"type": "function", "function": t["function"]} for t in functions]
            body["parallel_tool_calls"] = request.parallel_tool_calls
            choice = _wire_tool_choice(request.tool_choice)
            if choice is not None:
                body["tool_choice"] = choice
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.max_completion_tokens is not None:
            body[self.max_tokens_field] = request.max_completion_tokens
        if isinstance(request.response_format, dict) and request.response_format.get("type") != "text":
            body["response_format"] = request.response_format
        if self.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body


def transport_error(exc: httpx.TransportError, *, endpoint: str) -> TransientProviderError:
    """A timeout or connection failure as the transient error a caller retries."""
    if isinstance(exc, httpx.TimeoutException):
        return TransientProviderError("timeout", f"The {endpoint} did not answer in time ({type(exc).__name__}).")
    return TransientProviderError("connection_error", f"Could not reach the {endpoint}: {type(exc).__name__}: {exc}")


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
        for image in message.images:
            url: dict[str, Any] = {"url": image.url}
            if image.detail:
                url["detail"] = image.detail
            parts.append({"type": "image_url", "image_url": url})
        wire["content"] = parts
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    return wire


def _wire_tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"type": "function", "function": {"name": name}}
    return None


# --- responses ----------------------------------------------------------------------------------------


def _reply_from_json(response: httpx.Response, request: ModelRequest) -> ModelReply:
    try:
        data = scrub_json(response.json())
        choice = data["choices"][0]
        message = choice["message"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise PermanentProviderError(
            "malformed_response", f"The model endpoint sent a response that is not a chat completion: {exc!r}"
        ) from exc
    finish = choice.get("finish_reason") or "stop"
    _check_finish(finish)
    try:
        calls = tuple(
            ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"].get("arguments") or "{}")
            for c in message.get("tool_calls") or []
        )
    except (KeyError, TypeError) as exc:
        raise PermanentProviderError(
            "malformed_response", f"A tool call in the response is malformed: {exc!r}"
        ) from exc
    text = message.get("content") or ""
    return ModelReply(
        text=text,
        tool_calls=calls,
        usage=_usage(data.get("usage"), request, text),
        finish_reason="tool_calls" if calls else _finish_reason(finish),
    )


def _reply_from_stream(response: httpx.Response, request: ModelRequest, checkpoint: Checkpoint) -> ModelReply:
    """Accumulate SSE chunks: content deltas (shown via ``checkpoint`` as they come) and tool-call deltas."""
    text: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish = "stop"
    usage: dict[str, Any] | None = None
    saw_chunk = False
    for data in _sse_data(response):
        if data == "[DONE]":
            break
        try:
            chunk = scrub_json(json.loads(data))
        except ValueError as exc:
            raise PermanentProviderError(
                "malformed_response", f"The model endpoint sent a stream chunk that is not JSON: {data[:100]!r}"
            ) from exc
        if not isinstance(chunk, dict):
            raise PermanentProviderError("malformed_response", "A stream chunk is not a JSON object.")
        if "error" in chunk:
            error = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
            raise PermanentProviderError(str(error.get("code") or "server_error"), str(error.get("message")))
        saw_chunk = True
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text.append(delta["content"])
                checkpoint("".join(text))
            for part in delta.get("tool_calls") or []:
                slot = calls.setdefault(int(part.get("index", len(calls))), {"id": "", "name": "", "arguments": ""})
                slot["id"] = part.get("id") or slot["id"]
                function = part.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
                _check_finish(finish)
    if not saw_chunk:
        raise PermanentProviderError("malformed_response", "The model endpoint sent an empty stream.")
    joined = "".join(text)
    tool_calls = tuple(
        ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"] or "{}")
        for _, c in sorted(calls.items())
        if c["name"]
    )
    return ModelReply(
        text=joined,
        tool_calls=tool_calls,
        usage=_usage(usage, request, joined),
        finish_reason="tool_calls" if tool_calls else _finish_reason(finish),
    )


def _sse_data(response: httpx.Response) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent event stream (multi-line data joined with newlines)."""
    lines: list[str] = []
    for line in response.iter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        if line.startswith("data:"):
            lines.append(line[5:].lstrip(" "))
    if lines:
        yield "\n".join(lines)


def _check_finish(finish: str) -> None:
    if finish == "content_filter":
        raise PermanentProviderError("content_filter", "The model's content filter stopped the answer.")


def _finish_reason(finish: str) -> str:
    return "length" if finish == "length" else "stop"


def _usage(raw: Any, request: ModelRequest, text: str) -> Usage:
    """The server's token counts, or an offline estimate when it sends none (some servers do not)."""
    if isinstance(raw, dict) and isinstance(raw.get("prompt_tokens"), int):
        return Usage(int(raw["prompt_tokens"]), int(raw.get("completion_tokens") or 0))
    prompt = sum(count_tokens(m.content) + 4 for m in request.messages)
    return Usage(prompt, count_tokens(text))


# --- errors -------------------------------------------------------------------------------------------


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    error = _status_error(response)
    error.status = response.status_code
    raise error


def _status_error(response: httpx.Response) -> ProviderError:
    status = response.status_code
    code, message = _error_body(response)
    if status == 429:
        return TransientProviderError("rate_limit_exceeded", message, retry_after=retry_after(response.headers))
    if status >= 500 or status == 408:
        return TransientProviderError("server_error", message, retry_after=retry_after(response.headers))
    if code == "content_filter" or "ResponsibleAIPolicyViolation" in response.text:
        return PermanentProviderError("content_filter", message)
    if status in (401, 403):
        return PermanentProviderError("auth_error", message)
    if status == 404:
        return PermanentProviderError("model_not_found", message)
    return PermanentProviderError("bad_request", message)


def _error_body(response: httpx.Response) -> tuple[str, str]:
    """The server's error code and message (OpenAI and Azure shape ``{"error": {...}}``), else its text."""
    prefix = f"HTTP {response.status_code}"
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip()[:MAX_ERROR_TEXT]
        return "", f"{prefix}: {text}" if text else prefix
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or error.get("type") or "")
        return code, f"{prefix}: {str(error.get('message') or code)[:MAX_ERROR_TEXT]}"
    if isinstance(error, str):
        return "", f"{prefix}: {error[:MAX_ERROR_TEXT]}"
    return "", f"{prefix}: {json.dumps(data)[:MAX_ERROR_TEXT]}"


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:MAX_ERROR_TEXT] if text.strip() else "unknown error"
