"""M4: a connection's *_env names only AGENTS_ADMIN_SECRET_* variables (never SECRET_KEY or DATABASE_URL), and a
stored secret is dropped when the endpoint's host changes, so an edited URL cannot receive it."""

from __future__ import annotations

import pytest

from agents_admin.errors import InvalidInput
from agents_admin.lib.sealed import unseal
from agents_admin.models import ModelConnection, RemoteProject
from agents_admin.providers.base import PermanentProviderError
from agents_admin.providers.registry import provider_from_connection
from agents_admin.remote.connection import remote_secret
from agents_admin.services.connections import connection_create
from agents_admin.services.remote import remote_project_create, remote_project_update

pytestmark = pytest.mark.django_db

FIELDS = {"name": "c", "kind": "openai_compatible", "endpoint": "https://models.example.com/v1", "auth": "api_key"}


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "agents_admin_secret_x", "AGENTS_ADMIN_SECRET_"])
def test_server_variables_cannot_be_named(name: str) -> None:
    with pytest.raises(InvalidInput, match="AGENTS_ADMIN_SECRET_") as caught:
        connection_create(fields={**FIELDS, "api_key_env": name})
    assert caught.value.param == "api_key_env" and not ModelConnection.objects.exists()
    with pytest.raises(InvalidInput) as caught:
        remote_project_create(name="r", endpoint="https://x.example.com/api/projects/p", secret_env=name)
    assert caught.value.param == "secret_env" and not RemoteProject.objects.exists()


def test_a_row_naming_another_variable_is_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTS_ADMIN_SECRET_OK", "from-env")
    connection = connection_create(fields={**FIELDS, "api_key_env": "AGENTS_ADMIN_SECRET_OK"})
    assert provider_from_connection(connection, model="m") is not None
    ModelConnection.objects.filter(pk=connection.pk).update(api_key_env="SECRET_KEY")  # around the services
    connection.refresh_from_db()
    with pytest.raises(PermanentProviderError, match="AGENTS_ADMIN_SECRET_"):
        provider_from_connection(connection, model="m")
    remote = remote_project_create(name="r", endpoint="https://x.example.com/api/projects/p", secret="stored")
    RemoteProject.objects.filter(pk=remote.pk).update(secret_env="SECRET_KEY")
    remote.refresh_from_db()
    assert remote_secret(remote) == "stored"


def test_a_remote_project_moved_to_another_host_loses_its_secret() -> None:
    remote = remote_project_create(name="r", endpoint="https://x.example.com/api/projects/p", secret="s-1")
    remote_project_update(remote=remote, endpoint="https://x.example.com/api/projects/q")
    assert unseal(RemoteProject.objects.get(pk=remote.pk).secret) == "s-1"  # same host: kept
    remote_project_update(remote=remote, endpoint="https://evil.example.net/api/projects/q")
    assert RemoteProject.objects.get(pk=remote.pk).secret == ""
    remote_project_update(remote=remote, endpoint="https://y.example.com/api/projects/q", secret="s-2")
    assert unseal(RemoteProject.objects.get(pk=remote.pk).secret) == "s-2"  # typed with the move: kept
