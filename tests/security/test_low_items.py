"""Low findings: the new API key's page is never cached; X-Forwarded-Proto is trusted only when opted in; export
files, uploaded files and the SQLite database are readable by the service's user only."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse

from agents_admin.models import ApiKey
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def test_the_page_showing_a_new_api_key_is_not_stored(admin_client: Client) -> None:
    make_project()
    response = admin_client.post(reverse("agents_admin:api_key_new"), {"project": "default", "label": "ci"})
    assert ApiKey.objects.count() == 1
    assert "no-store" in response["Cache-Control"]


def test_a_client_cannot_claim_https_unless_the_proxy_header_is_opted_in() -> None:
    assert settings.SECURE_PROXY_SSL_HEADER is None  # the default
    request = RequestFactory().get("/", HTTP_X_FORWARDED_PROTO="https")
    assert not request.is_secure()


def test_a_background_export_file_is_readable_by_the_service_only(admin_user: object) -> None:
    import os
    import stat

    from agents_admin.services import exports
    from tests.factories import make_thread

    job = exports.export_job_create(actor=admin_user, fmt="jsonl", thread=make_thread(messages=["secret"]))
    exports.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert stat.S_IMODE(os.stat(job.file_path).st_mode) == 0o600


def test_an_uploaded_file_is_readable_by_the_service_only(tmp_path: object, settings: object) -> None:
    import os
    import stat

    from django.core.files.uploadedfile import SimpleUploadedFile

    from agents_admin.services.files import file_create

    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]
    old = os.umask(0o022)  # what most services run with: 0644 files unless the app says otherwise
    try:
        upload = SimpleUploadedFile("notes.txt", b"customer data")
        record = file_create(project=make_project(), upload=upload, purpose="assistants")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(record.content.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(record.content.path)).st_mode) == 0o700


def test_a_new_sqlite_database_file_is_readable_by_the_service_only(tmp_path: object) -> None:
    import os
    import stat
    from pathlib import Path

    from django.db.utils import ConnectionHandler

    path = Path(str(tmp_path)) / "new.sqlite3"
    old = os.umask(0o022)
    try:
        wrapper = ConnectionHandler({"default": {"ENGINE": "dashboard.db.sqlite3", "NAME": str(path)}})["default"]
        wrapper.ensure_connection()
        wrapper.cursor().execute("CREATE TABLE t (x int)")
        wrapper.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)  # one made before: narrowed at the next connection
    wrapper.ensure_connection()
    wrapper.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
