"""The Foundry connector against our own Foundry-compatible API, run as a second app over HTTPS.

The "remote" is another instance of this app: gunicorn serving dashboard.wsgi over TLS on 127.0.0.1 with its
own SQLite database, its own embedded broker and its own worker (so its runs complete), all under a tmp
VAR_DIR. What is on the remote is made with the official azure-ai-agents SDK; our side reaches it through a
RemoteProject (an API key, or a TokenCredential) that trusts exactly the self-signed certificate.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.ai.agents import AgentsClient
from azure.ai.agents.models import ListSortOrder, MessageRole
from azure.core.credentials import AccessToken
from azure.core.exceptions import ResourceNotFoundError

from agents_admin.errors import Conflict
from agents_admin.lib import embedded_broker
from agents_admin.management.commands.make_dev_cert import make_cert
from agents_admin.models import Agent, Message, RemoteProject, Run, RunStep, SyncRecord, Thread
from agents_admin.services.remote import (
    remote_project_create,
    remote_project_test,
    remote_project_update,
    remote_sync_start,
    remote_thread_create,
)
from agents_admin.services.remote_sync import remote_sync_execute
from agents_admin.services.runs import run_cancel, run_create, run_submit_tool_outputs
from agents_admin.services.threads import message_create, thread_delete
from tests.api_support import KeyCredential
from tests.conftest import ROOT, Worker, _SharedWorker, wait_for, wait_for_status

pytestmark = pytest.mark.worker


@dataclass
class RemoteApp:
    url: str
    endpoint: str
    key: str
    cert: Path

    def sdk(self) -> AgentsClient:
        return AgentsClient(
            endpoint=self.endpoint,
            credential=KeyCredential(self.key),  # type: ignore[arg-type]
            connection_verify=str(self.cert),
            retry_total=0,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="module")
def remote_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteApp]:
    """A second instance of the app: its own database, broker and worker, served over HTTPS by gunicorn."""
    var = tmp_path_factory.mktemp("remote-app")
    cert, key = var / "tls" / "cert.pem", var / "tls" / "key.pem"
    make_cert(cert, key)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    # Its own embedded broker under its own VAR_DIR: nothing is shared with the test's app.
    env.update(DATABASE_URL=f"sqlite:///{var / 'db.sqlite3'}", VAR_DIR=str(var), DEBUG="true")
    broker = embedded_broker.start(var / "broker", var / "broker" / "broker.sock", persist=False)

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    manage("migrate", "--no-input", "-v0")
    api_key = manage("create_api_key", "--project", "default", "--label", "e2e")
    port = _free_port()
    log = (var / "gunicorn.log").open("wb")
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "dashboard.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--certfile", str(cert), "--keyfile", str(key), "--workers", "1", "--threads", "8", "--timeout", "60"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    worker_log = var / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "-Q", "runs,maintenance",
         "--concurrency", "2", "--pool", "prefork", "-l", "info", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=worker_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    app = RemoteApp(
        url=f"https://127.0.0.1:{port}",
        endpoint=f"https://127.0.0.1:{port}/api/projects/default",
        key=api_key,
        cert=cert,
    )
    try:
        tls = httpx.Client(verify=__import__("ssl").create_default_context(cafile=str(cert)), timeout=5)

        def answering() -> bool:
            assert web.poll() is None, (var / "gunicorn.log").read_text()
            try:
                response = tls.get(
                    f"{app.endpoint}/assistants",
                    params={"api-version": "v1", "limit": 1},
                    headers={"Authorization": f"Bearer {api_key}"},
                )
            except httpx.TransportError:
                return False
            return response.status_code == 200

        wait_for(answering, timeout=30, interval=0.2)
        wait_for(lambda: " ready." in worker_log.read_text(errors="replace"), timeout=30, interval=0.2)
        tls.close()
        yield app
    finally:
        _stop(web)
        _stop(worker)
        embedded_broker.stop(broker)
        log.close()


@pytest.fixture(autouse=True)
def _fast(settings: Any, remote_app: RemoteApp) -> None:
    settings.REMOTE_CA_BUNDLE = str(remote_app.cert)
    settings.REMOTE_BACKOFF_BASE_SECONDS = 0.05
    settings.REMOTE_MAX_ATTEMPTS = 3
    settings.REMOTE_POLL_INITIAL_SECONDS = 0.1
    settings.REMOTE_POLL_MAX_SECONDS = 0.3


@pytest.fixture
def sdk(remote_app: RemoteApp) -> Iterator[AgentsClient]:
    client = remote_app.sdk()
    yield client
    client.close()


@pytest.fixture
def mirror(transactional_db: None, remote_app: RemoteApp) -> RemoteProject:
    return remote_project_create(
        name="own-api", endpoint=remote_app.endpoint, auth_kind=RemoteProject.AuthKind.API_KEY, secret=remote_app.key
    )


@pytest.fixture(scope="module")
def _trusting_worker(remote_app: RemoteApp) -> Iterator[None]:
    """The shared local worker (what ``celery_worker`` gives), started once for this module with an
    environment that trusts the remote's certificate and polls it briskly."""
    _SharedWorker.stop()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REMOTE_CA_BUNDLE", str(remote_app.cert))
        patch.setenv("REMOTE_POLL_INITIAL_SECONDS", "0.1")
        patch.setenv("REMOTE_POLL_MAX_SECONDS", "0.3")
        _SharedWorker.get()
    yield
    # Later modules get a worker started from the ordinary environment. Every test here waited for its
    # run or sync to end, so nothing is in flight: a SIGKILL saves the warm shutdown's wait.
    if _SharedWorker.current is not None:
        _SharedWorker.current.kill()
        _SharedWorker.current = None


@pytest.fixture
def follower(transactional_db: None, _trusting_worker: None) -> Worker:
    return _SharedWorker.get()


def full_sync(remote: RemoteProject) -> SyncRecord:
    record = SyncRecord.objects.create(remote_project=remote, mode=SyncRecord.Mode.FULL)
    remote_sync_execute(sync_id=record.pk)
    record.refresh_from_db()
    assert record.status == SyncRecord.Status.SUCCEEDED, record.errors
    return record


def mirrored_rows(remote: RemoteProject) -> dict[str, int]:
    return {
        "agents": Agent.objects.filter(remote_project=remote).count(),
        "threads": Thread.objects.filter(remote_project=remote).count(),
        "messages": Message.objects.filter(thread__remote_project=remote).count(),
        "runs": Run.objects.filter(remote_project=remote).count(),
        "steps": RunStep.objects.filter(run__remote_project=remote).count(),
    }


def test_a_full_sync_mirrors_what_the_sdk_made_and_a_second_one_changes_nothing(
    mirror: RemoteProject, sdk: AgentsClient
) -> None:
    agent = sdk.create_agent(model="gpt-4o", name="mirrored", instructions="You are helpful.")
    thread = sdk.threads.create(metadata={"topic": "e2e"})
    sdk.messages.create(thread_id=thread.id, role="user", content="Hello from the SDK")
    run = sdk.runs.create_and_process(thread_id=thread.id, agent_id=agent.id, polling_interval=0.2)
    assert run.status == "completed", run.last_error

    first = full_sync(mirror)

    local_agent = Agent.objects.get(remote_project=mirror, remote_id=agent.id)
    assert local_agent.name == "mirrored" and local_agent.model == "gpt-4o"
    local_thread = Thread.objects.get(remote_project=mirror, remote_id=thread.id)
    assert local_thread.metadata.get("topic") == "e2e"
    messages = list(Message.objects.filter(thread=local_thread).order_by("seq"))
    assert [m.role for m in messages] == ["user", "assistant"]
    assert "Hello from the SDK" in messages[0].text and "Hello from the SDK" in messages[1].text
    local_run = Run.objects.get(remote_project=mirror, remote_id=run.id)
    assert local_run.status == "completed" and local_run.thread_id == local_thread.pk
    assert local_run.agent_id == local_agent.pk and messages[1].run_id == local_run.pk
    assert RunStep.objects.filter(run=local_run).exists()
    assert first.counts["threads"]["created"] >= 1

    before = mirrored_rows(mirror)
    second = full_sync(mirror)
    assert mirrored_rows(mirror) == before
    assert not any(outcomes.get("created") for outcomes in second.counts.values()), second.counts
    assert Message.objects.filter(thread=local_thread).count() == 2


def test_a_thread_deleted_on_the_remote_is_found_gone_by_the_next_full_sync(
    mirror: RemoteProject, sdk: AgentsClient
) -> None:
    kept = sdk.threads.create()
    doomed = sdk.threads.create()
    full_sync(mirror)
    assert Thread.objects.get(remote_project=mirror, remote_id=doomed.id).remote_deleted_at is None

    sdk.threads.delete(doomed.id)
    record = full_sync(mirror)

    assert Thread.objects.get(remote_project=mirror, remote_id=doomed.id).remote_deleted_at is not None
    assert Thread.objects.get(remote_project=mirror, remote_id=kept.id).remote_deleted_at is None
    assert record.counts["threads"]["deleted"] == 1


def test_a_run_started_here_on_a_mirrored_thread_is_followed_to_completion_by_a_worker(
    mirror: RemoteProject, sdk: AgentsClient, follower: Worker
) -> None:
    agent = sdk.create_agent(model="gpt-4o", name="followed", instructions="x")
    thread = sdk.threads.create()
    sdk.messages.create(thread_id=thread.id, role="user", content="Started from the console")
    full_sync(mirror)
    local_thread = Thread.objects.get(remote_project=mirror, remote_id=thread.id)
    local_agent = Agent.objects.get(remote_project=mirror, remote_id=agent.id)

    run = run_create(thread=local_thread, agent=local_agent)

    assert run.remote_id and run.remote_project_id == mirror.pk
    wait_for_status(run, "completed", timeout=30)
    reply = Message.objects.get(thread=local_thread, role="assistant")
    assert reply.run_id == run.pk and "Started from the console" in reply.text
    assert sdk.runs.get(thread_id=thread.id, run_id=run.remote_id).status == "completed"
    on_remote = list(sdk.messages.list(thread_id=thread.id, order=ListSortOrder.ASCENDING))
    assert [m.role for m in on_remote] == [MessageRole.USER, MessageRole.AGENT]
    assert on_remote[1].id == reply.remote_id


def test_deleting_a_mirrored_thread_deletes_it_on_the_remote_first_then_here(
    mirror: RemoteProject, sdk: AgentsClient
) -> None:
    thread = sdk.threads.create()
    sdk.messages.create(thread_id=thread.id, role="user", content="to be forgotten")
    full_sync(mirror)
    local = Thread.objects.get(remote_project=mirror, remote_id=thread.id)

    thread_delete(thread=local)

    with pytest.raises(ResourceNotFoundError):
        sdk.threads.get(thread.id)
    assert not Thread.objects.filter(pk=local.pk).exists()
    assert not Message.objects.filter(thread_id=local.pk).exists()


class CountingCredential:
    """A TokenCredential test double: hands out the remote's API key as its token, counting the calls."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


def test_an_entra_mode_connection_uses_the_token_credential_and_caches_its_token(
    transactional_db: None, remote_app: RemoteApp, sdk: AgentsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = CountingCredential(remote_app.key)
    monkeypatch.setattr("agents_admin.remote.connection.credential_for", lambda kind, **kwargs: credential)
    remote = remote_project_create(
        name="own-api-entra", endpoint=remote_app.endpoint, auth_kind=RemoteProject.AuthKind.DEFAULT
    )
    thread = sdk.threads.create()

    assert "Connected" in remote_project_test(remote=remote)
    full_sync(remote)

    assert Thread.objects.filter(remote_project=remote, remote_id=thread.id).exists()
    assert credential.scopes == [("https://ai.azure.com/.default",)]  # one token, reused for every call


def test_a_sync_follows_the_pages_of_a_long_thread_and_an_incremental_one_picks_up_what_is_new(
    mirror: RemoteProject, sdk: AgentsClient
) -> None:
    thread = sdk.threads.create()
    for n in range(105):  # more than one page of 100
        sdk.messages.create(thread_id=thread.id, role="user", content=f"message {n}")
    full_sync(mirror)
    local = Thread.objects.get(remote_project=mirror, remote_id=thread.id)
    texts = list(Message.objects.filter(thread=local).order_by("seq").values_list("text", flat=True))
    assert texts == [f"message {n}" for n in range(105)]

    sdk.messages.create(thread_id=thread.id, role="user", content="one more")
    record = SyncRecord.objects.create(remote_project=mirror, mode=SyncRecord.Mode.INCREMENTAL)
    remote_sync_execute(sync_id=record.pk)

    record.refresh_from_db()
    assert record.status == SyncRecord.Status.SUCCEEDED, record.errors
    assert Message.objects.filter(thread=local).count() == 106
    assert Message.objects.filter(thread=local, text="one more").exists()


def test_a_sync_queued_from_the_console_is_done_by_the_worker(
    mirror: RemoteProject, sdk: AgentsClient, follower: Worker
) -> None:
    thread = sdk.threads.create(metadata={"via": "worker"})

    record = remote_sync_start(remote=mirror)

    def finished() -> SyncRecord | None:
        record.refresh_from_db()
        return record if record.status not in SyncRecord.ACTIVE else None

    wait_for(finished, timeout=30)
    assert record.status == SyncRecord.Status.SUCCEEDED, record.errors
    assert Thread.objects.get(remote_project=mirror, remote_id=thread.id).metadata.get("via") == "worker"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_a_run_waiting_for_tool_outputs_keeps_its_thread_and_finishes_with_outputs_given_here(
    mirror: RemoteProject, sdk: AgentsClient, follower: Worker
) -> None:
    agent = sdk.create_agent(model="gpt-4o", name="tools", instructions="x", tools=[WEATHER_TOOL])
    thread = sdk.threads.create()
    sdk.messages.create(thread_id=thread.id, role="user", content='/tool get_weather {"city": "Paris"}')
    full_sync(mirror)
    local_thread = Thread.objects.get(remote_project=mirror, remote_id=thread.id)
    run = run_create(thread=local_thread, agent=Agent.objects.get(remote_project=mirror, remote_id=agent.id))
    wait_for_status(run, "requires_action", timeout=30)
    [call] = run.pending_tool_calls
    assert call["function"]["name"] == "get_weather"

    # A thread with an active run is refused, on the remote too: nothing is deleted anywhere.
    with pytest.raises(Conflict):
        thread_delete(thread=local_thread)
    assert sdk.threads.get(thread.id).id == thread.id
    assert Thread.objects.filter(pk=local_thread.pk).exists()

    run_submit_tool_outputs(run=run, tool_outputs=[{"tool_call_id": call["id"], "output": '{"temp_c": 21}'}])
    wait_for_status(run, "completed", timeout=30)
    reply = Message.objects.filter(thread=local_thread, role="assistant").order_by("-seq").first()
    assert reply is not None and '"temp_c": 21' in reply.text
    assert sdk.runs.get(thread_id=thread.id, run_id=run.remote_id).status == "completed"


def test_a_remote_refusing_the_delete_leaves_the_thread_whole_and_says_why(
    mirror: RemoteProject, sdk: AgentsClient
) -> None:
    thread = sdk.threads.create()
    full_sync(mirror)
    local = Thread.objects.get(remote_project=mirror, remote_id=thread.id)
    remote_project_update(remote=mirror, secret="not-a-valid-key")  # the remote now answers 401

    with pytest.raises(Conflict) as refused:
        thread_delete(thread=local)

    assert "401" in refused.value.message
    assert sdk.threads.get(thread.id).id == thread.id
    assert Thread.objects.filter(pk=local.pk).exists()


def test_a_message_added_here_goes_to_the_remote_and_a_sync_does_not_copy_it_again(
    mirror: RemoteProject, sdk: AgentsClient
) -> None:
    thread = sdk.threads.create()
    full_sync(mirror)
    local = Thread.objects.get(remote_project=mirror, remote_id=thread.id)

    message = message_create(thread=local, role="user", content="written in the console")

    on_remote = list(sdk.messages.list(thread_id=thread.id))
    assert [m.id for m in on_remote] == [message.remote_id]
    full_sync(mirror)
    assert list(Message.objects.filter(thread=local).values_list("text", flat=True)) == ["written in the console"]


def test_metadata_with_the_most_pairs_the_contract_allows_is_accepted_by_the_remote(
    mirror: RemoteProject, sdk: AgentsClient
) -> None:
    metadata = {f"k{n}": "v" for n in range(16)}  # the contract's maximum (ref: 16 pairs)

    thread = remote_thread_create(remote=mirror, metadata=metadata)

    assert sdk.threads.get(thread.remote_id).metadata == metadata
    assert thread.metadata == metadata


def test_a_run_cancelled_here_is_cancelled_on_the_remote_and_followed_to_its_end(
    mirror: RemoteProject, sdk: AgentsClient, follower: Worker
) -> None:
    agent = sdk.create_agent(model="gpt-4o", name="slow", instructions="x")
    thread = sdk.threads.create()
    sdk.messages.create(thread_id=thread.id, role="user", content="/slow")
    full_sync(mirror)
    local_thread = Thread.objects.get(remote_project=mirror, remote_id=thread.id)
    run = run_create(thread=local_thread, agent=Agent.objects.get(remote_project=mirror, remote_id=agent.id))
    wait_for_status(run, "in_progress", timeout=30)

    run_cancel(run=run)

    wait_for_status(run, "cancelled", timeout=30)
    assert sdk.runs.get(thread_id=thread.id, run_id=run.remote_id).status == "cancelled"
