"""Settings pages for remote projects: admin only, write-only secrets, test connection, sync now and progress."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.models import AuditEvent, RemoteProject, SyncRecord
from agents_admin.remote.connection import remote_secret
from agents_admin.services.remote import remote_project_create
from agents_admin.services.remote_sync import remote_sync_execute
from tests.fake_foundry import FakeFoundry

SECRET = "do-not-show-me-8731"


@pytest.fixture(autouse=True)
def _fast_retries(settings) -> None:
    settings.REMOTE_BACKOFF_BASE_SECONDS = 0.01
    settings.REMOTE_MAX_ATTEMPTS = 2


@pytest.fixture
def remote(db: None, fake_foundry: FakeFoundry) -> RemoteProject:
    return remote_project_create(name="azure-east", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=SECRET)


def form_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "azure-west",
        "endpoint": "https://contoso.services.ai.azure.com/api/projects/support",
        "auth_kind": "client_secret",
        "tenant_id": "00000000-0000-0000-0000-000000000001",
        "client_id": "00000000-0000-0000-0000-000000000002",
        "secret": SECRET,
        "secret_env": "",
        "enabled": "on",
        "sync_interval_minutes": "30",
    }
    data.update(overrides)
    return data


def test_the_list_renders_as_a_page_and_as_a_partial(admin_client: Client, remote: RemoteProject) -> None:
    url = reverse("agents_admin:remote_project_list")
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"<html" in page.content and b"azure-east" in page.content and b"Remote projects" in page.content
    partial = admin_client.get(url, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b"azure-east" in partial.content
    assert SECRET.encode() not in page.content


def test_only_admins_reach_the_settings(db: None, anon_client: Client) -> None:
    url = reverse("agents_admin:remote_project_list")
    assert anon_client.get(url).status_code == 302
    User.objects.create_user("staff", password="pw-123456789", is_staff=True)
    client = Client()
    client.login(username="staff", password="pw-123456789")
    assert client.get(url).status_code == 403


def test_creating_a_connection_stores_the_secret_and_never_shows_it(admin_client: Client) -> None:
    response = admin_client.post(reverse("agents_admin:remote_project_create"), form_data())
    remote = RemoteProject.objects.get(name="azure-west")
    assert response.status_code == 302 and response["Location"].endswith(f"/settings/remote-projects/{remote.pk}/")
    assert remote.secret.startswith("sealed:") and SECRET not in remote.secret  # sealed at rest
    assert remote_secret(remote) == SECRET and remote.project.name == "remote-azure-west"
    page = admin_client.get(response["Location"])
    assert SECRET.encode() not in page.content and b"A secret is stored" in page.content


def test_a_bad_endpoint_is_reported_beside_the_field_and_nothing_is_saved(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("agents_admin:remote_project_create"), form_data(endpoint="http://contoso.example/api/projects/x")
    )
    assert response.status_code == 200
    assert b"must be an https URL" in response.content
    assert SECRET.encode() not in response.content  # not even echoed back into the password field
    assert not RemoteProject.objects.exists()


def test_a_client_secret_connection_needs_its_ids(admin_client: Client) -> None:
    response = admin_client.post(reverse("agents_admin:remote_project_create"), form_data(tenant_id="", secret=""))
    assert response.content.count(b"Required for a client secret credential.") == 2
    assert not RemoteProject.objects.exists()


def test_editing_with_a_blank_secret_keeps_the_stored_one(admin_client: Client, remote: RemoteProject) -> None:
    url = reverse("agents_admin:remote_project_edit", args=[remote.pk])
    data = form_data(
        name="azure-east", endpoint=remote.endpoint, auth_kind="api_key", secret="", sync_interval_minutes="15"
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302
    remote.refresh_from_db()
    assert remote_secret(remote) == SECRET and remote.sync_interval_minutes == 15


def test_test_connection_shows_success(admin_client: Client, fake_foundry: FakeFoundry, db: None) -> None:
    remote = remote_project_create(
        name="ok", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key
    )
    url = reverse("agents_admin:remote_project_test", args=[remote.pk])
    partial = admin_client.post(url, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b"Connected:" in partial.content
    page = admin_client.post(url)
    assert b"<html" in page.content and b"Connected:" in page.content


def test_test_connection_shows_the_exact_error(admin_client: Client, remote: RemoteProject) -> None:
    url = reverse("agents_admin:remote_project_test", args=[remote.pk])
    partial = admin_client.post(url, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content
    assert b"Test connection failed (HTTP 401, unauthorized)." in partial.content
    assert b"Bad or missing token" not in partial.content  # the remote's own words are not shown back
    assert SECRET.encode() not in partial.content
    [event] = AuditEvent.objects.filter(action="remote_project.test")
    assert event.object_id == str(remote.pk) and event.after["status"] == 401 and event.after["ok"] is False


def test_sync_now_queues_a_sync_and_shows_its_progress(admin_client: Client, remote: RemoteProject) -> None:
    response = admin_client.post(reverse("agents_admin:remote_project_sync", args=[remote.pk]))
    record = SyncRecord.objects.get(remote_project=remote)
    detail = reverse("agents_admin:remote_sync_detail", args=[remote.pk, record.pk])
    assert response.status_code == 302 and response["Location"] == detail
    page = admin_client.get(detail)
    assert b"<html" in page.content and b"queued" in page.content
    assert b'hx-trigger="every 1s"' in page.content  # polls while the sync is active
    htmx = admin_client.post(reverse("agents_admin:remote_project_sync", args=[remote.pk]), HTTP_HX_REQUEST="true")
    assert htmx["HX-Redirect"].endswith(f"/settings/remote-projects/{remote.pk}/")  # already running: back to it


def test_the_progress_partial_stops_polling_when_the_sync_is_done(
    admin_client: Client, fake_foundry: FakeFoundry, db: None
) -> None:
    remote = remote_project_create(
        name="ok", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key
    )
    fake_foundry.seed_thread(messages=["hi"])
    admin_client.post(reverse("agents_admin:remote_project_sync", args=[remote.pk]))
    record = SyncRecord.objects.get(remote_project=remote)
    remote_sync_execute(sync_id=record.pk)
    url = reverse("agents_admin:remote_sync_detail", args=[remote.pk, record.pk])
    partial = admin_client.get(url, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content
    assert b"succeeded" in partial.content and b"hx-trigger" not in partial.content
    assert b"messages" in partial.content and b"created 1" in partial.content
    syncs = admin_client.get(reverse("agents_admin:remote_project_syncs", args=[remote.pk]), HTTP_HX_REQUEST="true")
    assert b"<html" not in syncs.content and b"succeeded" in syncs.content and b"hx-trigger" not in syncs.content
    full = admin_client.get(reverse("agents_admin:remote_project_syncs", args=[remote.pk]))
    assert b"<html" in full.content


def test_a_failed_sync_shows_its_errors(admin_client: Client, remote: RemoteProject) -> None:
    admin_client.post(reverse("agents_admin:remote_project_sync", args=[remote.pk]))
    record = SyncRecord.objects.get(remote_project=remote)
    remote_sync_execute(sync_id=record.pk)
    page = admin_client.get(reverse("agents_admin:remote_sync_detail", args=[remote.pk, record.pk]))
    assert b"failed" in page.content and b"HTTP 401" in page.content
    assert SECRET.encode() not in page.content


def test_the_origin_fragment_shows_where_a_mirrored_thread_lives(remote: RemoteProject) -> None:
    from django.template.loader import render_to_string

    from agents_admin.models import Thread

    thread = Thread.objects.create(project=remote.project, remote_project=remote, remote_id="thread_abc")
    html = render_to_string("agents_admin/_remote_origin.html", {"obj": thread})
    assert "azure-east" in html and "thread_abc" in html and "deleted" not in html
    local = Thread.objects.create(project=remote.project)
    assert render_to_string("agents_admin/_remote_origin.html", {"obj": local}).strip() == ""


def test_the_export_downloads_as_streamed_json_lines(admin_client: Client, fake_foundry: FakeFoundry, db: None) -> None:
    import json

    remote = remote_project_create(
        name="ok", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key
    )
    fake_foundry.seed_thread(messages=["hi"])
    response = admin_client.get(reverse("agents_admin:remote_project_export", args=[remote.pk]))
    assert response.streaming and response["Content-Disposition"] == 'attachment; filename="ok.jsonl"'
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [line["type"] for line in lines] == ["thread", "message"]


def test_the_export_for_v2_import_downloads_and_is_audited_once(
    admin_client: Client, fake_foundry: FakeFoundry, db: None
) -> None:
    import json

    from agents_admin.models import AuditEvent

    remote = remote_project_create(
        name="ok", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key
    )
    fake_foundry.seed_thread(messages=["hi"])
    url = reverse("agents_admin:remote_project_export", args=[remote.pk])
    response = admin_client.get(url, {"format": "v2"})
    assert response["Content-Disposition"] == 'attachment; filename="ok-v2.jsonl"'
    [line] = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert line["type"] == "conversation" and line["body"]["items"][0]["content"] == [
        {"type": "input_text", "text": "hi"}
    ]
    [event] = AuditEvent.objects.filter(action="export.remote")
    assert event.after == {"format": "v2", "remote_project": "ok"}
    assert admin_client.get(url, {"format": "xml"}).status_code == 400
    assert AuditEvent.objects.filter(action="export.remote").count() == 1


def test_an_export_that_fails_midway_ends_with_an_error_line(admin_client: Client, remote: RemoteProject) -> None:
    import json

    response = admin_client.get(reverse("agents_admin:remote_project_export", args=[remote.pk]))
    [line] = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert line["type"] == "error" and "HTTP 401" in line["error"] and SECRET not in line["error"]
