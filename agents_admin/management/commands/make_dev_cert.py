"""``manage.py make_dev_cert``: a self-signed certificate for https://localhost and https://127.0.0.1.

The Azure SDKs refuse to send a bearer token over plain http, so local SDK use needs HTTPS. The certificate
is made once (kept while it is valid for another week) under ``VAR_DIR/tls``; clients trust it with
``connection_verify=<cert.pem>``.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

VALID_DAYS = 365


def tls_paths() -> tuple[Path, Path]:
    folder = Path(settings.VAR_DIR) / "tls"
    return folder / "cert.pem", folder / "key.pem"


def make_cert(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    x509.IPAddress(ipaddress.IPv6Address("::1")),
                ]
            ),
            critical=False,
        )
        # A CA-flagged self-signed leaf, so OpenSSL accepts it as its own trust anchor.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def cert_is_fresh(cert_path: Path) -> bool:
    if not cert_path.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.not_valid_after_utc > datetime.now(UTC) + timedelta(days=7)


class Command(BaseCommand):
    help = "Create (once) a self-signed TLS certificate for localhost/127.0.0.1 under VAR_DIR/tls."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Make a new certificate even if one is valid.")

    def handle(self, *args: Any, **options: Any) -> None:
        cert_path, key_path = tls_paths()
        if options["force"] or not cert_is_fresh(cert_path) or not key_path.exists():
            make_cert(cert_path, key_path)
            self.stdout.write(f"Created a self-signed certificate: {cert_path}")
        else:
            self.stdout.write(f"Using the certificate {cert_path}")
        port = os.environ.get("HTTPS_PORT", "8443")
        self.stdout.write(f"  REST API (Azure AI Agents SDK endpoint): https://127.0.0.1:{port}/api/projects/default")
        self.stdout.write(f"  Trust this certificate in clients: connection_verify={str(cert_path)!r}")
        self.stdout.write("  Make a key: python manage.py create_api_key --project default\n")
