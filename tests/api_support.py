"""A real HTTPS server for the REST API on 127.0.0.1 and official Azure SDK clients pointed at it.

The server is Django's threaded WSGI server (the one runserver uses) with its socket wrapped in TLS, using a
certificate from ``make_dev_cert``; clients trust exactly that certificate (``connection_verify``), which is
the recipe of the reference's section 8.3.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.ai.agents import AgentsClient
from azure.core.credentials import AccessToken
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application

from agents_admin.management.commands.make_dev_cert import make_cert
from agents_admin.models import Project
from agents_admin.services.api_keys import api_key_create
from tests.factories import make_project


class KeyCredential:
    """The smallest TokenCredential: hands the SDK a project API key as its bearer token."""

    def __init__(self, key: str) -> None:
        self.key = key

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.key, int(time.time()) + 3600)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass


class HttpsServer:
    def __init__(self, cert: Path, key: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False)
        self.httpd.daemon_threads = True
        self.httpd.set_app(get_wsgi_application())
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def dev_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    make_cert(cert, key)
    return cert, key


@pytest.fixture(scope="session")
def https_server(django_db_setup: None, django_db_blocker: Any, dev_cert: tuple[Path, Path]) -> Iterator[HttpsServer]:
    server = HttpsServer(*dev_cert)
    yield server
    server.stop()


def sdk_client(server: HttpsServer, cert: Path, key: str, project: str = "default") -> AgentsClient:
    return AgentsClient(
        endpoint=f"{server.url}/api/projects/{project}",
        credential=KeyCredential(key),  # type: ignore[arg-type]
        connection_verify=str(cert),
        retry_total=0,
    )


def new_key(project: Project | None = None) -> str:
    return api_key_create(project=project or make_project(), label="test").secret


@pytest.fixture
def api_key(transactional_db: None) -> str:
    return new_key()


@pytest.fixture
def agents_client(https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str) -> Iterator[AgentsClient]:
    client = sdk_client(https_server, dev_cert[0], api_key)
    yield client
    client.close()
