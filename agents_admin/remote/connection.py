"""From a RemoteProject row to a FoundryClient: credentials, cached per worker process.

The credential (and so its token cache) lives as long as the process and is rebuilt when the row changes
(keyed by ``updated_at``), so a sync or a run poll does not ask Entra for a token on every call.
"""

from __future__ import annotations

import os
import threading

import httpx
from django.conf import settings

from agents_admin.lib.sealed import unseal
from agents_admin.models import RemoteProject
from agents_admin.remote.foundry import (
    ApiKeyAuth,
    Auth,
    BearerTokenAuth,
    FoundryAuthError,
    FoundryClient,
    FoundryConfig,
    credential_for,
)
from agents_admin.validation import secret_env_allowed

_auth_cache: dict[tuple[int, str], Auth] = {}
_auth_lock = threading.Lock()


def remote_secret(remote: RemoteProject) -> str:
    """The secret from the row, or from the environment variable it names (which wins when set)."""
    if remote.secret_env and secret_env_allowed(remote.secret_env):  # never any other server variable
        value = os.environ.get(remote.secret_env, "")
        if value:
            return value
    return unseal(remote.secret)


def remote_auth(remote: RemoteProject) -> Auth:
    key = (remote.pk, remote.updated_at.isoformat() if remote.updated_at else "")
    with _auth_lock:
        auth = _auth_cache.get(key)
        if auth is None:
            auth = _build_auth(remote)
            # Drop stale entries of this project (an edited row) so the cache does not grow.
            for old in [k for k in _auth_cache if k[0] == remote.pk]:
                del _auth_cache[old]
            _auth_cache[key] = auth
    return auth


def _build_auth(remote: RemoteProject) -> Auth:
    secret = remote_secret(remote)
    if remote.auth_kind == RemoteProject.AuthKind.API_KEY:
        if not secret:
            raise FoundryAuthError("API key mode needs a key (the secret, or the variable named by secret env).")
        return ApiKeyAuth(secret)
    credential = credential_for(remote.auth_kind, tenant_id=remote.tenant_id, client_id=remote.client_id, secret=secret)
    return BearerTokenAuth(credential)


def remote_client(remote: RemoteProject) -> FoundryClient:
    verify: str | bool = settings.REMOTE_CA_BUNDLE or True
    config = FoundryConfig(
        endpoint=remote.endpoint,
        auth=remote_auth(remote),
        verify=verify,
        max_attempts=settings.REMOTE_MAX_ATTEMPTS,
        backoff_base=settings.REMOTE_BACKOFF_BASE_SECONDS,
        timeout=httpx.Timeout(settings.REMOTE_TIMEOUT_SECONDS, connect=5.0),
    )
    return FoundryClient(config)
