"""Streams served by the ASGI server: woken by the worker's notices, handed the answer's text as the model produces
it, holding no thread while open, and limited per API key (429 + Retry-After)."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.ai.agents import AgentsClient
from azure.ai.agents.models import MessageRole
from django.contrib.auth.models import User

from agents_admin.models import ApiKey, AuditEvent, Run, Thread
from agents_admin.services.api_limits import streams_open
from agents_admin.services.runs import run_cancel
from tests.api_support import HttpsServer, new_key
from tests.conftest import Worker, wait_for
from tests.e2e.test_api_sdk import Recorder
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


@pytest.mark.timeout(120)
def test_the_answer_reaches_the_sdk_word_by_word_between_the_workers_checkpoints(
    own_workers: list[Worker], agents_client: AgentsClient
) -> None:
    """This worker writes the answer to the store once a minute: the SDK's stream still gets it word by word as
    the model produces it (in the worker's notices), each word once and in order."""
    own_workers.append(Worker(RUN_CHECKPOINT_SECONDS="60", OFFLINE_SLOW_SECONDS="2"))
    agent = agents_client.create_agent(model="gpt-4o", name="words")
    thread = agents_client.threads.create()
    agents_client.messages.create(thread_id=thread.id, role="user", content="/slow tell me a story")
    handler = Recorder()
    with agents_client.runs.stream(thread_id=thread.id, agent_id=agent.id, event_handler=handler) as stream:
        stream.until_done()
    assert handler.errors == [] and handler.statuses[-1] == "completed"
    final = agents_client.messages.get_last_message_text_by_role(thread_id=thread.id, role=MessageRole.AGENT)
    assert final is not None and "".join(handler.deltas) == final.text.value
    # From the store alone this would be two deltas: the first word (the message's first checkpoint) and the rest.
    words = final.text.value.split(" ")
    assert len(words) > 6 and len(handler.deltas) > len(words) // 2


def test_open_streams_hold_no_thread(
    own_workers: list[Worker], https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str, settings: Any
) -> None:
    """The server runs in this process: with 20 streams open (no worker, their runs stay queued), it has no more
    threads than its few look threads (STREAM_DB_THREADS) and the notices' subscription."""
    agent = make_agent()
    threads = [make_thread(project=agent.project) for _ in range(20)]
    before = threading.active_count()
    streams = [
        post(https_server, dev_cert[0], api_key, f"/threads/{thread.id}/runs", {"assistant_id": agent.id,
             "stream": True})
        for thread in threads
    ]  # fmt: skip
    try:
        # Each stream's line reader is kept: a reader dropped closes its stream.
        readers = [response.iter_lines() for response in streams]
        for response, reader in zip(streams, readers, strict=True):
            assert response.status_code == 200 and next(reader) == b"event: thread.run.created"
        assert streams_open(api_key_id=ApiKey.objects.get(project=agent.project).pk) == 20
        wait_for(lambda: threading.active_count() - before <= settings.STREAM_DB_THREADS + 2, timeout=10)
    finally:
        for run in Run.objects.filter(thread__in=threads):
            run_cancel(run=run)
        for response in streams:
            response.close()


def test_the_console_keeps_its_security_middleware_under_the_asgi_server(
    https_server: HttpsServer, dev_cert: tuple[Path, Path], transactional_db: None
) -> None:
    """Served as production serves it: the sign-in page has its CSP nonce, frame and content-type headers and a
    CSRF cookie; signing in is audited and opens a session; a console page answers with its own nonce."""
    User.objects.create_user("ada", password="a long passphrase 42", is_staff=True)  # noqa: S106
    browser = requests.Session()
    cert = str(dev_cert[0])
    page = browser.get(f"{https_server.url}/login/", verify=cert, timeout=30)
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None and f'nonce="{nonce.group(1)}"' in page.text
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None and "csrftoken" in browser.cookies
    refused = requests.post(f"{https_server.url}/login/", data={"username": "ada"}, verify=cert, timeout=30)
    assert refused.status_code == 403  # no CSRF token
    signed_in = browser.post(
        f"{https_server.url}/login/",
        data={"csrfmiddlewaretoken": token.group(1), "username": "ada", "password": "a long passphrase 42"},
        headers={"Referer": f"{https_server.url}/login/"},
        allow_redirects=False,
        verify=cert,
        timeout=30,
    )
    assert signed_in.status_code == 302 and "sessionid" in browser.cookies
    assert AuditEvent.objects.filter(action="auth.sign_in").count() == 1
    console = browser.get(f"{https_server.url}/", verify=cert, timeout=30)
    assert console.status_code == 200 and "/login/" not in console.url
    again = re.search(r"'nonce-([^']+)'", console.headers["Content-Security-Policy"])
    assert again is not None and again.group(1) != nonce.group(1)
