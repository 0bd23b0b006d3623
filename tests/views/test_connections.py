"""Console pages for model connections: CRUD, write-only secrets, the Test connection button, permissions."""

from __future__ import annotations

import html as htmllib
import logging
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.lib.sealed import unseal
from agents_admin.models import AuditEvent, ModelConnection
from agents_admin.services import connections as connections_service
from agents_admin.services.connections import connection_create
from tests.confirm_helpers import confirm_post
from tests.factories import make_project
from tests.model_server import FakeModelServer, answer, error, hang

pytestmark = pytest.mark.django_db
SECRET = "sk-do-not-show-me-4242"
CLIENT_SECRET = "entra-client-secret-9797"


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "ollama",
        "project": "",
        "kind": "openai_compatible",
        "endpoint": "http://localhost:11434/v1",
        "api_version": "",
        "deployments": "gpt-4o = llama3.2\nsmall = qwen2.5:0.5b",
        "default_deployment": "",
        "auth": "api_key",
        "api_key": SECRET,
        "api_key_env": "",
        "tenant_id": "",
        "client_id": "",
        "client_secret": "",
        "client_secret_env": "",
        "context_window": "8192",
        "read_timeout": "60",
        "stream": "on",
    }
    data.update(overrides)
    return data


def make_connection(**fields: Any) -> ModelConnection:
    values: dict[str, Any] = {
        "name": "azure",
        "kind": "azure_openai",
        "endpoint": "https://example.openai.azure.com",
        "api_version": "2024-10-21",
        "auth": "api_key",
        "api_key": SECRET,
        "deployments": {"gpt-4o": "gpt4o-prod"},
    }
    values.update(fields)
    return connection_create(fields=values)


def test_creating_a_connection_stores_it_and_never_renders_the_key_back(
    admin_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = admin_client.post(reverse("agents_admin:connection_create"), form_data())
    connection = ModelConnection.objects.get(name="ollama")
    assert response.status_code == 302
    assert response["Location"] == reverse("agents_admin:connection_edit", args=[connection.pk])
    assert SECRET not in connection.api_key and unseal(connection.api_key) == SECRET  # sealed at rest
    assert connection.deployments == {"gpt-4o": "llama3.2", "small": "qwen2.5:0.5b"}
    assert connection.context_window == 8192
    page = admin_client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert SECRET not in html
    assert "A key is set" in html
    assert 'name="api_key"' in html and "gpt-4o = llama3.2" in html
    assert SECRET not in caplog.text


def test_a_form_with_an_error_does_not_echo_the_submitted_secret(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("agents_admin:connection_create"),
        form_data(endpoint="ftp://nope", client_secret=CLIENT_SECRET),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "The endpoint must be an http(s) URL." in html
    assert SECRET not in html and CLIENT_SECRET not in html
    assert not ModelConnection.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"deployments": "gpt-4o llama"}, "Line 1: write 'model name = deployment'."),
        ({"api_key": ""}, "Enter an API key or the environment variable that holds it."),
        ({"api_key_env": "NOT-A-NAME"}, "environment variable named AGENTS_ADMIN_SECRET_<NAME>"),
        ({"api_key_env": "SECRET_KEY"}, "environment variable named AGENTS_ADMIN_SECRET_<NAME>"),
        ({"auth": "entra_client_secret", "api_key": ""}, "A tenant id is required for client-secret sign-in."),
        ({"endpoint": "http://user:pw@host/v1"}, "The endpoint must not carry a query or credentials"),
    ],
)
def test_bad_input_is_refused_beside_the_field(admin_client: Client, overrides: dict[str, str], message: str) -> None:
    response = admin_client.post(reverse("agents_admin:connection_create"), form_data(**overrides))
    assert response.status_code == 200
    assert message in htmllib.unescape(response.content.decode())
    assert not ModelConnection.objects.exists()


def test_editing_with_an_empty_key_keeps_the_stored_one(admin_client: Client) -> None:
    connection = make_connection()
    url = reverse("agents_admin:connection_edit", args=[connection.pk])
    same_host = connection.endpoint.rstrip("/") + "/"
    response = admin_client.post(url, form_data(name="azure", kind="azure_openai", endpoint=same_host, api_key=""))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert unseal(connection.api_key) == SECRET


def test_pointing_a_connection_at_another_host_drops_its_stored_secret(admin_client: Client) -> None:
    connection = make_connection()
    url = reverse("agents_admin:connection_edit", args=[connection.pk])
    response = admin_client.post(
        url, form_data(name="azure", kind="azure_openai", endpoint="https://attacker.example.com", api_key="")
    )
    assert response.status_code == 200  # the form asks for a key for the new host: nothing is saved
    connection.refresh_from_db()
    assert unseal(connection.api_key) == SECRET and "attacker" not in connection.endpoint
    response = admin_client.post(
        url, form_data(name="azure", kind="azure_openai", endpoint="https://other.openai.azure.com", api_key="new-key")
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.endpoint == "https://other.openai.azure.com" and unseal(connection.api_key) == "new-key"
    event = AuditEvent.objects.filter(action="connection.update").latest("id")
    assert event.after["api_key"] == "(replaced)" and SECRET not in str(event.after)


def test_editing_can_erase_the_stored_secrets_in_favour_of_an_environment_variable(admin_client: Client) -> None:
    connection = make_connection()
    url = reverse("agents_admin:connection_edit", args=[connection.pk])
    admin_client.post(
        url, form_data(name="azure", api_key="", api_key_env="AGENTS_ADMIN_SECRET_AZURE_OPENAI", clear_secrets="on")
    )
    connection.refresh_from_db()
    assert connection.api_key == "" and connection.api_key_env == "AGENTS_ADMIN_SECRET_AZURE_OPENAI"


def test_the_client_secret_is_write_only_too(admin_client: Client) -> None:
    connection = make_connection(
        auth="entra_client_secret", api_key="", tenant_id="t-1", client_id="c-1", client_secret=CLIENT_SECRET
    )
    html = admin_client.get(reverse("agents_admin:connection_edit", args=[connection.pk])).content.decode()
    assert CLIENT_SECRET not in html and SECRET not in html
    assert "A secret is set" in html


def test_the_list_shows_connections_without_secrets(admin_client: Client) -> None:
    make_connection()
    make_connection(name="project-one", project=make_project("alpha"), is_default=True)
    response = admin_client.get(reverse("agents_admin:connection_list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "azure" in html and "project-one" in html and "gpt-4o → gpt4o-prod" in html
    assert SECRET not in html
    assert reverse("agents_admin:connection_list") in html  # the nav line


def test_deleting_a_connection(admin_client: Client) -> None:
    connection = make_connection()
    url = reverse("agents_admin:connection_delete", args=[connection.pk])
    asked = admin_client.post(url)
    assert asked.status_code == 200 and "Delete connection" in asked.content.decode()
    assert ModelConnection.objects.exists()  # the first POST only asks
    response = confirm_post(admin_client, url)
    assert response.status_code == 302 and response["Location"] == reverse("agents_admin:connection_list")
    assert not ModelConnection.objects.exists()


def test_delete_needs_a_post(admin_client: Client) -> None:
    connection = make_connection()
    assert admin_client.get(reverse("agents_admin:connection_delete", args=[connection.pk])).status_code == 405
    assert ModelConnection.objects.exists()


def test_test_connection_makes_a_real_call_and_shows_success(
    admin_client: Client, model_server: FakeModelServer
) -> None:
    connection = make_connection(endpoint=model_server.url)
    model_server.add(answer("OK"))
    url = reverse("agents_admin:connection_test", args=[connection.pk])
    response = admin_client.post(url, {"model": "gpt-4o"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Success." in html and "Model 'gpt-4o' answered (18 tokens)." in htmllib.unescape(html)
    [sent] = model_server.requests
    assert sent.path == "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    assert sent.headers["api-key"] == SECRET
    assert SECRET not in html


def test_test_connection_shows_the_exact_error_on_the_full_page_without_htmx(
    admin_client: Client, model_server: FakeModelServer
) -> None:
    connection = make_connection(endpoint=model_server.url)
    model_server.add(error(401, "Access denied due to invalid subscription key.", code="401"))
    response = admin_client.post(reverse("agents_admin:connection_test", args=[connection.pk]))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "Failed. The test call failed (HTTP 401, auth_error): check the key" in html
    assert "Access denied" not in html  # the endpoint's answer body is never shown: the URL is an admin's choice
    assert SECRET not in html
    [event] = AuditEvent.objects.filter(action="connection.test")
    assert event.object_id == str(connection.pk) and event.after == {
        "model": "gpt-4o",
        "ok": False,
        "code": "auth_error",
    }


def test_a_test_call_that_lands_on_some_other_server_shows_none_of_its_page(
    admin_client: Client, model_server: FakeModelServer
) -> None:
    connection = make_connection(endpoint=model_server.url, kind="openai_compatible")
    model_server.add(error(404, "<html>internal wiki: db password is hunter2</html>"))
    html = admin_client.post(reverse("agents_admin:connection_test", args=[connection.pk])).content.decode()
    assert "HTTP 404, model_not_found" in html and "hunter2" not in html and "wiki" not in html


def test_test_connection_reports_an_unreachable_endpoint(admin_client: Client) -> None:
    connection = make_connection(endpoint="http://127.0.0.1:9", kind="openai_compatible")
    response = admin_client.post(reverse("agents_admin:connection_test", args=[connection.pk]), HTTP_HX_REQUEST="true")
    assert "Failed. The test call failed (connection_error): check the endpoint" in response.content.decode()
    assert AuditEvent.objects.get(action="connection.test").after["code"] == "connection_error"


def test_signed_out_visitors_are_sent_to_sign_in(anon_client: Client) -> None:
    response = anon_client.get(reverse("agents_admin:connection_list"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_people_without_the_permission_cannot_see_or_change_connections(db: None) -> None:
    connection = make_connection()
    client = Client()
    client.force_login(User.objects.create_user("viewer", password="viewer-pass-123"))
    assert client.get(reverse("agents_admin:connection_list")).status_code == 403
    assert client.post(reverse("agents_admin:connection_test", args=[connection.pk])).status_code == 403
    assert client.post(reverse("agents_admin:connection_delete", args=[connection.pk])).status_code == 403
    assert ModelConnection.objects.filter(pk=connection.pk).exists()


def test_test_connection_gives_up_on_a_hanging_model_after_its_own_short_timeout(
    admin_client: Client, model_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connections_service, "TEST_READ_TIMEOUT", 0.3)
    connection = make_connection(endpoint=model_server.url, read_timeout=600)
    model_server.add(hang(3))
    response = admin_client.post(reverse("agents_admin:connection_test", args=[connection.pk]), HTTP_HX_REQUEST="true")
    assert "Failed. The test call failed (timeout): the endpoint did not answer in time." in response.content.decode()


def test_an_offline_connection_needs_no_endpoint_and_tests_fine(admin_client: Client) -> None:
    connection = connection_create(fields={"name": "built-in", "kind": "offline", "auth": "none"})
    response = admin_client.post(reverse("agents_admin:connection_test", args=[connection.pk]), HTTP_HX_REQUEST="true")
    assert "Success. Model &#x27;test&#x27; answered (35 tokens)." in response.content.decode()
