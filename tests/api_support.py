"""A real HTTPS server for the REST API on 127.0.0.1 and official Azure SDK clients pointed at it.

The server is uvicorn serving the project's ASGI application over TLS, as production serves it (so streams are
the asynchronous ones), with a certificate from ``make_dev_cert``; clients trust exactly that certificate
(``connection_verify``), which is the recipe of the reference's section 8.3.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from azure.ai.agents import AgentsClient
from azure.core.credentials import AccessToken

from agents_admin.api.streaming import LOOKS
from agents_admin.management.commands.make_dev_cert import make_cert
from agents_admin.models import Project
from agents_admin.services.api_keys import api_key_create
from dashboard.asgi_handler import StreamingASGIHandler
from tests.factories import make_project


class KeyCredential:
    """The smallest TokenCredential: hands the SDK a project API key as its bearer token."""

    def __init__(self, key: str) -> None:
        self.key = key

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.key, int(time.time()) + 3600)


class HttpsServer:
    def __init__(self, cert: Path, key: Path) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            StreamingASGIHandler(),
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test's HTTPS server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()
        LOOKS.close_connections()


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
