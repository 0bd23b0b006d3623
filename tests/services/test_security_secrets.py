"""No secrets in logs, pages, error reports or the audit log."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.views.debug import SafeExceptionReporterFilter

from agents_admin.models import AuditEvent, ModelConnection
from tests.views.test_connections import CLIENT_SECRET, SECRET, form_data

pytestmark = pytest.mark.django_db


def test_saving_a_connection_logs_and_audits_no_secret(admin_client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    data = form_data(auth="entra_client_secret", tenant_id="t", client_id="c", client_secret=CLIENT_SECRET)
    response = admin_client.post(reverse("agents_admin:connection_create"), data)
    assert response.status_code == 302
    connection = ModelConnection.objects.get()
    admin_client.post(reverse("agents_admin:connection_test", args=[connection.pk]))
    page = admin_client.get(reverse("agents_admin:connection_edit", args=[connection.pk])).content.decode()
    audit = str(list(AuditEvent.objects.values()))
    for secret in (SECRET, CLIENT_SECRET):
        assert secret not in caplog.text and secret not in page and secret not in audit
    assert AuditEvent.objects.filter(action="connection.create").count() == 1


def test_error_reports_mask_submitted_secrets(admin_client: Client) -> None:
    response = admin_client.post(reverse("agents_admin:connection_create"), form_data(client_secret=CLIENT_SECRET))
    request = response.wsgi_request
    cleaned = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleaned["api_key"] != SECRET and cleaned["client_secret"] != CLIENT_SECRET
    assert cleaned["name"] == "ollama"


def test_failed_sign_ins_keep_the_username_but_never_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    User.objects.create_user("sam", password="right-password-1")
    Client().post("/login/", {"username": "sam", "password": "wrong-password-xyz"})
    logged = caplog.text + str(list(AuditEvent.objects.values()))
    assert "wrong-password-xyz" not in logged and "sam" in str(list(AuditEvent.objects.values("object_id")))
