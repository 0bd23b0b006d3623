"""Writes on model connections, and the console's "Test connection" call.

Secrets are write-only: an update with an empty secret keeps the stored one (``clear_secrets`` removes them),
and nothing here logs or returns a secret.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from agents_admin.errors import InvalidInput
from agents_admin.lib.sealed import seal
from agents_admin.models import ModelConnection, Project
from agents_admin.providers.base import ChatMessage, ModelRequest, Provider, ProviderError
from agents_admin.providers.chat_completions import ChatCompletionsProvider
from agents_admin.providers.registry import provider_from_connection
from agents_admin.services.audit import Actor, audit_record, changed_fields
from agents_admin.validation import endpoint_host, validate_secret_env

logger = logging.getLogger(__name__)

FIELDS = (
    "project",
    "name",
    "kind",
    "endpoint",
    "api_version",
    "deployments",
    "default_deployment",
    "embeddings_deployment",
    "auth",
    "api_key_env",
    "client_secret_env",
    "tenant_id",
    "client_id",
    "context_window",
    "read_timeout",
    "stream",
    "vision",
    "is_default",
)
SECRET_FIELDS = ("api_key", "client_secret")
# Seconds the Test connection button waits for an answer.
TEST_READ_TIMEOUT = 30.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")


def connection_create(*, fields: dict[str, Any], actor: Actor = None, actor_label: str = "") -> ModelConnection:
    """A new connection; raises InvalidInput naming the bad field. Becoming default unsets the old default."""
    connection = ModelConnection()
    return _save(connection, fields, creating=True, actor=actor, actor_label=actor_label)


def connection_update(
    *, connection: ModelConnection, fields: dict[str, Any], actor: Actor = None, actor_label: str = ""
) -> ModelConnection:
    """Change a connection. A blank secret keeps the stored one; ``clear_secrets=True`` erases both."""
    return _save(connection, fields, creating=False, actor=actor, actor_label=actor_label)


def connection_delete(*, connection: ModelConnection, actor: Actor = None, actor_label: str = "") -> None:
    with transaction.atomic():
        audit_record(
            action="connection.delete", actor=actor, actor_label=actor_label, object_type="connection",
            object_id=str(connection.pk), project_id=connection.project_id, before=_audit_view(connection),
        )  # fmt: skip
        connection.delete()


def _audit_view(connection: ModelConnection) -> dict[str, Any]:
    """What the audit log keeps of a connection: its settings, and only whether each secret is set, never it."""
    view: dict[str, Any] = {name: getattr(connection, name) for name in FIELDS if name != "project"}
    view["project"] = connection.project_id
    for name in SECRET_FIELDS:
        view[name] = "(set)" if getattr(connection, name) else "(empty)"
    return view


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str
    model: str = ""
    # On failure: our error code ("auth_error", "timeout", ...) and the endpoint's HTTP status, if it answered.
    code: str = ""
    status: int | None = None


def connection_test(
    *, connection: ModelConnection, model: str = "", actor: Actor = None, actor_label: str = ""
) -> ConnectionCheck:
    """Make one tiny real call through the connection: success with what the model said, or the error's code.
    Audited as ``connection.test`` with the outcome (the call sends the stored credential to the endpoint)."""
    check = _connection_call(connection=connection, model=model)
    audit_record(
        action="connection.test", actor=actor, actor_label=actor_label, object_type="connection",
        object_id=str(connection.pk), project_id=connection.project_id,
        after={"model": check.model, "ok": check.ok, "code": check.code},
    )  # fmt: skip
    return check


def _connection_call(*, connection: ModelConnection, model: str) -> ConnectionCheck:
    model = model or next(iter(connection.deployments or {}), "") or connection.default_deployment or "test"
    request = ModelRequest(
        model=model,
        messages=[ChatMessage(role="user", content="Reply with the single word OK.")],
        max_completion_tokens=16,
    )
    try:
        provider: Provider = provider_from_connection(connection, model=model)
        if isinstance(provider, ChatCompletionsProvider):
            # A person is waiting on the page: do not hold a web worker for a slow model's full timeout.
            provider = dataclasses.replace(provider, read_timeout=min(provider.read_timeout, TEST_READ_TIMEOUT))
        reply = provider.complete(request, lambda _text: None)
    except ProviderError as exc:
        # The endpoint's answer body is not shown: whoever can edit the URL could point it anywhere and read back
        # what that server says (an internal service's page, say). The status and our error code are enough.
        logger.info("connection %s test failed: %s (HTTP %s)", connection.pk, exc.code, exc.status)
        answered = f"HTTP {exc.status}, " if exc.status is not None else ""
        return ConnectionCheck(
            ok=False,
            message=f"The test call failed ({answered}{exc.code}): {CODE_HINTS.get(exc.code, 'see the logs')}.",
            model=model,
            code=exc.code,
            status=exc.status,
        )
    return ConnectionCheck(
        ok=True,
        message=f"Model '{model}' answered ({reply.usage.total_tokens} tokens).",
        model=model,
        status=200,
    )


# What to check for each failure of a test call.
CODE_HINTS = {
    "auth_error": "check the key or the identity's access to the endpoint",
    "model_not_found": "check the model or deployment name",
    "rate_limit_exceeded": "the endpoint is busy; try again shortly",
    "server_error": "the endpoint failed; try again shortly",
    "timeout": "the endpoint did not answer in time",
    "connection_error": "check the endpoint's address and that it is reachable from this server",
    "bad_request": "the endpoint refused the request; check the API version and model",
    "content_filter": "the endpoint's content filter stopped the answer",
    "malformed_response": "the endpoint's answer is not a chat completion; check the endpoint URL",
}


def _save(
    connection: ModelConnection, fields: dict[str, Any], *, creating: bool, actor: Actor, actor_label: str
) -> ModelConnection:
    before = {} if creating else _audit_view(connection)
    old_host = endpoint_host(connection.endpoint)
    cleaned = _clean(fields)
    for name in FIELDS:
        if name in cleaned:
            setattr(connection, name, cleaned[name])
    if fields.get("clear_secrets") or (not creating and endpoint_host(connection.endpoint) != old_host):
        # A stored secret belongs to the host it was given for: pointing the connection elsewhere must not send
        # it there. A secret typed in this same save (below) is meant for the new host.
        connection.api_key = ""
        connection.client_secret = ""
    replaced = []
    for name in SECRET_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            setattr(connection, name, seal(value.strip()))
            replaced.append(name)
    _check_complete(connection)
    with transaction.atomic():
        if connection.is_default:
            # One default per scope: the new default takes over from the old one.
            ModelConnection.objects.filter(project=connection.project, is_default=True).exclude(
                pk=connection.pk
            ).update(is_default=False)
        clash = ModelConnection.objects.filter(name=connection.name).exclude(pk=connection.pk).exists()
        if clash:
            raise InvalidInput(f"A connection named '{connection.name}' already exists.", param="name")
        connection.save()
        after = _audit_view(connection)
        for name in replaced:
            after[name] = "(replaced)"  # a new value, even if one was set before; the value itself never
        old, new = changed_fields(before, after)
        if creating or new:
            audit_record(
                action="connection.create" if creating else "connection.update", actor=actor,
                actor_label=actor_label, object_type="connection", object_id=str(connection.pk),
                project_id=connection.project_id, before=None if creating else old, after=after if creating else new,
            )  # fmt: skip
    return connection


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    if "name" in fields:
        name = str(fields["name"] or "").strip()
        if not _NAME.match(name):
            raise InvalidInput("Name: 1-100 letters, digits, spaces, '.', '_' or '-'.", param="name")
        cleaned["name"] = name
    if "project" in fields:
        project = fields["project"]
        if project is not None and not isinstance(project, Project):
            raise InvalidInput("Choose a project, or none for every project.", param="project")
        cleaned["project"] = project
    if "kind" in fields:
        if fields["kind"] not in ModelConnection.Kind.values:
            raise InvalidInput("Choose a kind of connection.", param="kind")
        cleaned["kind"] = fields["kind"]
    if "auth" in fields:
        if fields["auth"] not in ModelConnection.Auth.values:
            raise InvalidInput("Choose how to authenticate.", param="auth")
        cleaned["auth"] = fields["auth"]
    if "endpoint" in fields:
        endpoint = str(fields["endpoint"] or "").strip().rstrip("/")
        parts = urlsplit(endpoint)
        if endpoint and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise InvalidInput("The endpoint must be an http(s) URL.", param="endpoint")
        if parts.query or parts.username or parts.password:
            raise InvalidInput(
                "The endpoint must not carry a query or credentials; use the key fields.", param="endpoint"
            )
        cleaned["endpoint"] = endpoint
    for name in ("api_version", "default_deployment", "tenant_id", "client_id"):
        if name in fields:
            cleaned[name] = str(fields[name] or "").strip()
    for name in ("api_key_env", "client_secret_env"):
        if name in fields:
            cleaned[name] = validate_secret_env(fields[name], param=name)
    if "deployments" in fields:
        cleaned["deployments"] = _clean_deployments(fields["deployments"])
    if "embeddings_deployment" in fields:
        embeddings = str(fields["embeddings_deployment"] or "").strip()
        if "/" in embeddings or "?" in embeddings or len(embeddings) > 256:
            raise InvalidInput(
                "The embeddings model is a name of at most 256 characters without '/' or '?'.",
                param="embeddings_deployment",
            )
        cleaned["embeddings_deployment"] = embeddings
    if "context_window" in fields:
        window = fields["context_window"]
        if isinstance(window, bool) or not isinstance(window, int) or not 256 <= window <= 10_000_000:
            raise InvalidInput(
                "The context window is a number of tokens from 256 to 10,000,000.", param="context_window"
            )
        cleaned["context_window"] = window
    if "read_timeout" in fields:
        timeout = fields["read_timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.1 <= timeout <= 3600:
            raise InvalidInput("The read timeout is from 0.1 to 3600 seconds.", param="read_timeout")
        cleaned["read_timeout"] = float(timeout)
    for name in ("stream", "vision", "is_default"):
        if name in fields:
            cleaned[name] = bool(fields[name])
    return cleaned


def _clean_deployments(value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("Deployments map model names to deployment names.", param="deployments")
    cleaned: dict[str, str] = {}
    for model, deployment in value.items():
        if not isinstance(model, str) or not model.strip() or not isinstance(deployment, str) or not deployment.strip():
            raise InvalidInput("Each model name needs a deployment name.", param="deployments")
        if "/" in deployment or "?" in deployment:
            raise InvalidInput(f"Deployment '{deployment}' must not contain '/' or '?'.", param="deployments")
        cleaned[model.strip()] = deployment.strip()
    return cleaned


def _check_complete(connection: ModelConnection) -> None:
    """Refuse a connection that could never work, naming the field to fill in."""
    if connection.kind == ModelConnection.Kind.OFFLINE:
        return
    if not connection.endpoint:
        raise InvalidInput("An endpoint is required for this kind of connection.", param="endpoint")
    if connection.auth == ModelConnection.Auth.API_KEY and not connection.has_api_key:
        raise InvalidInput("Enter an API key or the environment variable that holds it.", param="api_key")
    if connection.auth == ModelConnection.Auth.ENTRA_CLIENT_SECRET:
        if not connection.tenant_id:
            raise InvalidInput("A tenant id is required for client-secret sign-in.", param="tenant_id")
        if not connection.client_id:
            raise InvalidInput("A client id is required for client-secret sign-in.", param="client_id")
        if not connection.has_client_secret:
            raise InvalidInput("Enter the client secret.", param="client_secret")
    if connection.kind == ModelConnection.Kind.AZURE_OPENAI and connection.auth == ModelConnection.Auth.NONE:
        raise InvalidInput("Azure OpenAI needs an API key or Microsoft Entra ID.", param="auth")
