"""The v2 protocol's official clients (azure-ai-projects 2.x and the ``openai`` client it hands out) against the
live HTTPS server. They need azure-ai-projects 2.x, which cannot share an environment with the 1.x the rest of
the suite tests, so ``make test`` runs this folder in ``.venv-v2clients`` (requirements-v2clients.lock)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from azure.ai.projects import AIProjectClient
from openai import OpenAI

from tests.api_support import HttpsServer, KeyCredential

pytest_plugins = ["tests.api_support"]  # the HTTPS server, the dev certificate and project API keys


@pytest.fixture
def project_client(https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str) -> Iterator[AIProjectClient]:
    """``AIProjectClient`` as a user builds it: the project endpoint and a credential (here one that hands over a
    project API key), trusting the service's certificate as any TLS client is told to."""
    client = AIProjectClient(
        endpoint=f"{https_server.url}/api/projects/default",
        credential=KeyCredential(api_key),  # type: ignore[arg-type]
        connection_verify=str(dev_cert[0]),
        retry_total=0,
    )
    yield client
    client.close()


@pytest.fixture
def openai_client(project_client: AIProjectClient, dev_cert: tuple[Path, Path]) -> Iterator[OpenAI]:
    """The OpenAI client the project client hands out, on an HTTP client that trusts the same certificate."""
    client = project_client.get_openai_client(
        http_client=httpx2.Client(verify=ssl.create_default_context(cafile=str(dev_cert[0]))), max_retries=0
    )
    yield client
    client.close()
