"""Which provider serves a run: the connection its agent chose; else the connection that maps the model name,
else the project's default connection, else the instance-wide default, else the built-in offline model."""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings
from django.db.models import Q

from agents_admin.lib.sealed import unseal
from agents_admin.models import ModelConnection
from agents_admin.providers.base import PermanentProviderError, Provider
from agents_admin.providers.chat_completions import (
    AZURE_SCOPE,
    DEFAULT_AZURE_API_VERSION,
    Auth,
    ChatCompletionsProvider,
    EntraTokenAuth,
    HeaderAuth,
)
from agents_admin.providers.embeddings import EmbeddingsProvider
from agents_admin.providers.offline import OfflineProvider
from agents_admin.validation import SECRET_ENV_PREFIX, secret_env_allowed

# Entra token caches, one per connection version per process: a worker asks Entra for a token once an hour,
# not once per call. Keyed by (id, updated_at) so an edited connection gets a fresh credential.
_entra_lock = threading.Lock()
_entra_auth: dict[tuple[int, str], EntraTokenAuth] = {}


def connection_for(*, project_id: int | None, model: str) -> ModelConnection | None:
    """The connection that answers ``model`` in the project, or None for the offline model.

    A connection that maps the name explicitly wins (the project's before instance-wide ones); then the
    project's default connection; then the instance default. One small query over the connections table.
    """
    candidates = list(ModelConnection.objects.filter(Q(project_id=project_id) | Q(project__isnull=True)))

    def rank(connection: ModelConnection) -> int:
        return 0 if connection.project_id is not None else 1

    for connection in sorted(candidates, key=rank):
        if isinstance(connection.deployments, dict) and connection.deployments.get(model):
            return connection
    for connection in sorted(candidates, key=rank):
        if connection.is_default:
            return connection
    return None


def provider_for(*, project_id: int, model: str, connection: ModelConnection | None = None) -> Provider:
    """The provider that answers ``model`` in the project: ``connection`` when given (the agent chose it),
    else the one the model name resolves to."""
    return provider_with_connection(project_id=project_id, model=model, connection=connection)[0]


def provider_with_connection(
    *, project_id: int, model: str, connection: ModelConnection | None = None
) -> tuple[Provider, ModelConnection | None]:
    """``provider_for``, and the connection it resolved (None: the built-in offline model), for the trace."""
    if connection is None:
        connection = connection_for(project_id=project_id, model=model)
    if connection is None:
        return OfflineProvider(slow_seconds=settings.OFFLINE_SLOW_SECONDS), None
    return provider_from_connection(connection, model=model), connection


def provider_from_connection(connection: ModelConnection, *, model: str) -> Provider:
    """A provider for one connection. Raises PermanentProviderError (code ``configuration_error`` or
    ``model_not_found``) when the connection cannot serve ``model``, so the run fails with a reason."""
    if connection.kind == ModelConnection.Kind.OFFLINE:
        return OfflineProvider(slow_seconds=settings.OFFLINE_SLOW_SECONDS, context_window=connection.context_window)
    endpoint = connection.endpoint.rstrip("/")
    if not endpoint:
        raise PermanentProviderError("configuration_error", f"Connection '{connection.name}' has no endpoint.")
    deployment = connection.deployment_for(model)
    common: dict[str, Any] = {
        "auth": _auth(connection),
        "context_window": connection.context_window,
        "read_timeout": connection.read_timeout,
        "stream": connection.stream,
        "accepts_images": connection.vision,
    }
    if connection.kind == ModelConnection.Kind.AZURE_OPENAI:
        if not deployment:
            raise PermanentProviderError(
                "model_not_found", f"Connection '{connection.name}' has no deployment for model '{model}'."
            )
        return ChatCompletionsProvider(
            url=f"{endpoint}/openai/deployments/{deployment}/chat/completions",
            params={"api-version": connection.api_version or DEFAULT_AZURE_API_VERSION},
            max_tokens_field="max_completion_tokens",
            **common,
        )
    # OpenAI-compatible servers: Ollama, vLLM and LM Studio understand max_tokens; not all know the newer name.
    return ChatCompletionsProvider(
        url=f"{endpoint}/chat/completions", model=deployment or model, max_tokens_field="max_tokens", **common
    )


def embeddings_connection_for(*, project_id: int | None) -> ModelConnection | None:
    """The connection that embeds a new vector store's chunks: the project's own before instance-wide ones, a
    default before others, then by name; None when no connection serves embeddings (full text alone)."""
    candidates = (
        ModelConnection.objects.filter(Q(project_id=project_id) | Q(project__isnull=True))
        .exclude(embeddings_deployment="")
        .exclude(kind=ModelConnection.Kind.OFFLINE)
    )
    return min(candidates, key=lambda c: (c.project_id is None, not c.is_default, c.name), default=None)


def embedder_from_connection(connection: ModelConnection, *, model: str) -> EmbeddingsProvider:
    """An embeddings provider for ``model`` (a deployment on Azure) on this connection. Raises
    PermanentProviderError (``configuration_error``) when the connection cannot serve it."""
    endpoint = connection.endpoint.rstrip("/")
    if not endpoint or not model:
        raise PermanentProviderError(
            "configuration_error", f"Connection '{connection.name}' has no endpoint or no embeddings model."
        )
    if connection.kind == ModelConnection.Kind.AZURE_OPENAI:
        return EmbeddingsProvider(
            url=f"{endpoint}/openai/deployments/{model}/embeddings",
            auth=_auth(connection),
            read_timeout=connection.read_timeout,
            params={"api-version": connection.api_version or DEFAULT_AZURE_API_VERSION},
        )
    return EmbeddingsProvider(
        url=f"{endpoint}/embeddings", auth=_auth(connection), model=model, read_timeout=connection.read_timeout
    )


def connection_api_key(connection: ModelConnection) -> str:
    """The connection's API key, for tools that call another API with it; PermanentProviderError when unset."""
    return _secret(connection.api_key, connection.api_key_env, connection=connection, what="API key")


def _auth(connection: ModelConnection) -> Auth:
    kind = connection.auth
    if kind == ModelConnection.Auth.API_KEY:
        key = _secret(connection.api_key, connection.api_key_env, connection=connection, what="API key")
        if connection.kind == ModelConnection.Kind.AZURE_OPENAI:
            return HeaderAuth("api-key", key)
        return HeaderAuth("Authorization", f"Bearer {key}")
    if kind == ModelConnection.Auth.NONE:
        return HeaderAuth("Authorization", "")
    cache_key = (connection.pk, connection.updated_at.isoformat() if connection.updated_at else "")
    with _entra_lock:
        auth = _entra_auth.get(cache_key)
        if auth is None:
            auth = EntraTokenAuth(_credential(connection), scope=AZURE_SCOPE)
            _entra_auth[cache_key] = auth
    return auth


def _credential(connection: ModelConnection) -> Any:
    # Imported here: azure-identity is only loaded by processes that use Entra connections.
    from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

    if connection.auth == ModelConnection.Auth.ENTRA_CLIENT_SECRET:
        secret = _secret(
            connection.client_secret, connection.client_secret_env, connection=connection, what="client secret"
        )
        if not (connection.tenant_id and connection.client_id):
            raise PermanentProviderError(
                "configuration_error", f"Connection '{connection.name}' needs a tenant id and a client id."
            )
        return ClientSecretCredential(connection.tenant_id, connection.client_id, secret)
    if connection.auth == ModelConnection.Auth.MANAGED_IDENTITY:
        return ManagedIdentityCredential(client_id=connection.client_id or None)
    return DefaultAzureCredential()


def _secret(value: str, env_name: str, *, connection: ModelConnection, what: str) -> str:
    if env_name:
        if not secret_env_allowed(env_name):  # a row saved before the rule, or written around the services
            raise PermanentProviderError(
                "configuration_error",
                f"Connection '{connection.name}' names ${env_name}; secrets are read only from "
                f"{SECRET_ENV_PREFIX}<NAME> variables.",
            )
        from_env = os.environ.get(env_name, "")
        if not from_env:
            raise PermanentProviderError(
                "configuration_error",
                f"Connection '{connection.name}' reads its {what} from ${env_name}, which is not set.",
            )
        return from_env
    secret = unseal(value)
    if not secret:
        raise PermanentProviderError(
            "configuration_error", f"Connection '{connection.name}' has no {what} (or it was sealed with another key)."
        )
    return secret
