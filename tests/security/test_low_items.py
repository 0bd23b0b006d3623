"""Low findings: the new API key's page is never cached; X-Forwarded-Proto is trusted only when opted in."""

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
