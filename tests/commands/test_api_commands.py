"""Management commands for the API: create_api_key (for provisioning scripts) and make_dev_cert (local HTTPS)."""

from __future__ import annotations

import ipaddress
from io import StringIO
from pathlib import Path

import pytest
from cryptography import x509
from django.core.management import CommandError, call_command

from agents_admin.management.commands.make_dev_cert import tls_paths
from agents_admin.models import ApiKey
from agents_admin.services.api_keys import api_key_authenticate
from tests.factories import make_project


def test_create_api_key_prints_the_key_and_nothing_else(db: None) -> None:
    make_project("billing")
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "--project", "billing", "--label", "ci", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    assert out.getvalue() == secret + "\n" and err.getvalue() == "" and " " not in secret
    key = api_key_authenticate(secret=secret)
    assert key is not None and key.project.name == "billing" and key.label == "ci"


def test_create_api_key_makes_the_default_project_on_first_use(db: None) -> None:
    out = StringIO()
    call_command("create_api_key", "--project", "default", stdout=out)
    assert ApiKey.objects.get().project.name == "default"


def test_create_api_key_refuses_an_unknown_project(db: None) -> None:
    with pytest.raises(CommandError, match="No project named 'ghost'"):
        call_command("create_api_key", "--project", "ghost", stdout=StringIO())
    assert not ApiKey.objects.exists()


def test_make_dev_cert_covers_localhost_and_127_0_0_1_and_is_kept(settings, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    call_command("make_dev_cert", stdout=StringIO())
    cert_path, key_path = tls_paths()
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert ipaddress.IPv4Address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert key_path.stat().st_mode & 0o777 == 0o600
    before = cert_path.read_bytes()
    out = StringIO()
    call_command("make_dev_cert", stdout=out)
    assert cert_path.read_bytes() == before and "Using" in out.getvalue()
