"""Streams served by the ASGI server: woken by the worker's notices, and limited per API key (429 + Retry-After)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from agents_admin.models import ApiKey, Run, Thread
from agents_admin.services.api_limits import streams_open
from agents_admin.services.runs import run_cancel
from tests.api_support import HttpsServer, new_key
from tests.conftest import Worker, wait_for
from tests.factories import make_agent, make_thread

pytest_plugins = ["tests.api_support"]  # the HTTPS server
BASE = "/api/projects/default"


def post(server: HttpsServer, cert: Path, key: str, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{server.url}{BASE}{path}?api-version=v1",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        verify=str(cert),
        stream=True,
        timeout=60,
    )


def event_names(response: requests.Response) -> list[str]:
    return [chunk.split("\n")[0].removeprefix("event: ") for chunk in response.text.strip("\n").split("\n\n")]


@pytest.mark.timeout(120)
def test_a_stream_is_woken_by_the_workers_notices_not_by_its_idle_look(
    celery_worker: Worker, https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str, settings: Any
) -> None:
    """With the idle look an hour away, only the notices can carry the stream from queued to completed."""
    settings.STREAM_IDLE_SECONDS = 3600
    agent = make_agent()
    thread = make_thread(project=agent.project)
    response = post(https_server, dev_cert[0], api_key, f"/threads/{thread.id}/runs", {"assistant_id": agent.id,
                    "stream": True, "additional_messages": [{"role": "user", "content": "/slow hello"}]})  # fmt: skip
    assert response.status_code == 200
    names = event_names(response)
    assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert "thread.message.delta" in names and names[-2:] == ["thread.run.completed", "done"]


@pytest.mark.timeout(120)
def test_without_notices_a_stream_polls_the_store(
    celery_worker: Worker, https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str, settings: Any
) -> None:
    settings.RUN_EVENTS_URL = "unix:///nonexistent/notices.sock"
    settings.STREAM_IDLE_SECONDS = 3600
    agent = make_agent()
    thread = make_thread(project=agent.project)
    response = post(https_server, dev_cert[0], api_key, f"/threads/{thread.id}/runs",
                    {"assistant_id": agent.id, "stream": True})  # fmt: skip
    assert event_names(response)[-2:] == ["thread.run.completed", "done"]


def test_a_key_past_its_open_streams_is_refused_429_and_no_run_is_made(
    own_workers: list[Worker], https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str, settings: Any
) -> None:
    settings.API_STREAMS_PER_KEY = 1
    agent = make_agent()
    first_thread, second_thread = make_thread(project=agent.project), make_thread(project=agent.project)
    # No worker (own_workers stops the shared one): the first run stays queued and its stream stays open.
    first = post(https_server, dev_cert[0], api_key, f"/threads/{first_thread.id}/runs",
                 {"assistant_id": agent.id, "stream": True})  # fmt: skip
    assert first.status_code == 200
    first_lines = first.iter_lines()
    assert next(first_lines) == b"event: thread.run.created"
    owner = ApiKey.objects.get(project=agent.project)
    assert streams_open(api_key_id=owner.pk) == 1

    refused = post(https_server, dev_cert[0], api_key, f"/threads/{second_thread.id}/runs",
                   {"assistant_id": agent.id, "stream": True})  # fmt: skip
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "rate_limit_error"
    assert error["details"][0]["code"] == "API_STREAMS_PER_KEY" and "API_STREAMS_PER_KEY" in error["message"]
    assert not Run.objects.filter(thread=second_thread).exists()

    # The first stream ends with its run, and gives its slot back.
    run_cancel(run=Run.objects.get(thread=first_thread))
    rest = b"\n".join(first_lines).decode()
    assert "event: thread.run.cancelled" in rest and rest.rstrip().endswith("data: [DONE]")
    wait_for(lambda: streams_open(api_key_id=owner.pk) == 0, timeout=10)
    again = post(https_server, dev_cert[0], api_key, f"/threads/{second_thread.id}/runs",
                 {"assistant_id": agent.id, "stream": False})  # fmt: skip
    assert again.status_code == 200


def test_a_key_past_its_runs_per_minute_is_refused_429_with_the_wait(
    https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str, settings: Any
) -> None:
    settings.API_RUNS_PER_MINUTE_PER_KEY = 2
    agent = make_agent()
    for _ in range(2):
        assert post(https_server, dev_cert[0], api_key, "/threads/runs", {"assistant_id": agent.id}).status_code == 200
    refused = post(https_server, dev_cert[0], api_key, "/threads/runs", {"assistant_id": agent.id})
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Content-Type"].startswith("application/json")
    error = json.loads(refused.content)["error"]
    assert set(error) == {"code", "message", "type", "param", "details"}
    assert error["details"][0]["code"] == "API_RUNS_PER_MINUTE_PER_KEY"
    # Nothing was made for the refused call: only the two threads and their runs exist.
    assert Thread.objects.filter(project=agent.project).count() == 2
    assert Run.objects.filter(thread__project=agent.project).count() == 2
    # Another key of the project has its own allowance.
    other = new_key(agent.project)
    assert post(https_server, dev_cert[0], other, "/threads/runs", {"assistant_id": agent.id}).status_code == 200
