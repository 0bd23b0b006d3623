"""Acting on a remote project through the services: remote first, then the mirror; failures change nothing."""

from __future__ import annotations

import logging

import pytest

from agents_admin.errors import Conflict
from agents_admin.models import Agent, Message, RemoteProject, Run, RunStep, Thread
from agents_admin.services.remote import (
    RemoteFailed,
    remote_agent_create,
    remote_agent_delete,
    remote_agent_update,
    remote_message_create,
    remote_project_create,
    remote_project_test,
    remote_project_update,
    remote_run_create,
    remote_run_follow,
    remote_run_submit_tool_outputs,
    remote_thread_create,
    remote_thread_delete,
)
from agents_admin.services.runs import runs_expire, runs_reconcile
from tests.conftest import Worker, wait_for_status
from tests.fake_foundry import FakeFoundry, Fault


@pytest.fixture(autouse=True)
def _fast(settings) -> None:
    settings.REMOTE_BACKOFF_BASE_SECONDS = 0.01
    settings.REMOTE_MAX_ATTEMPTS = 3
    settings.REMOTE_POLL_INITIAL_SECONDS = 0.01
    settings.REMOTE_POLL_MAX_SECONDS = 0.05


@pytest.fixture
def remote(db: None, fake_foundry: FakeFoundry) -> RemoteProject:
    return remote_project_create(
        name="azure-east", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key
    )


def test_remote_first_delete_removes_the_thread_there_and_here(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    thread = remote_thread_create(remote=remote)
    remote_message_create(thread=thread, content="hello")
    remote_id = thread.remote_id
    remote_thread_delete(thread=thread)
    assert remote_id not in fake_foundry.store.objects["threads"]
    assert not Thread.objects.filter(pk=thread.pk).exists()
    assert not Message.objects.filter(thread_id=thread.pk).exists()


def test_a_remote_failure_leaves_the_thread_in_place_and_reports_the_error(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    thread = remote_thread_create(remote=remote)
    remote_message_create(thread=thread, content="keep me")
    fake_foundry.faults.append(Fault("DELETE", r"/threads/[^/]+", status=503, times=10))
    with pytest.raises(RemoteFailed) as caught:
        remote_thread_delete(thread=thread)
    assert "HTTP 503" in caught.value.message and thread.pk in caught.value.message
    assert thread.remote_id in fake_foundry.store.objects["threads"]
    assert Thread.objects.filter(pk=thread.pk).exists()
    assert Message.objects.filter(thread=thread).count() == 1


def test_a_thread_already_gone_on_the_remote_is_deleted_locally(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    thread = remote_thread_create(remote=remote)
    fake_foundry.delete_remote("threads", thread.remote_id)
    remote_thread_delete(thread=thread)
    assert not Thread.objects.filter(pk=thread.pk).exists()


def test_remote_agents_are_created_edited_and_deleted_there_first(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    agent = remote_agent_create(remote=remote, name="Triage", model="gpt-4o", instructions="Sort tickets.")
    assert fake_foundry.store.objects["assistants"][agent.remote_id]["name"] == "Triage"
    assert agent.project_id == remote.project_id
    agent = remote_agent_update(agent=agent, instructions="Sort tickets by urgency.")
    assert fake_foundry.store.objects["assistants"][agent.remote_id]["instructions"] == "Sort tickets by urgency."
    assert Agent.objects.get(pk=agent.pk).instructions == "Sort tickets by urgency."
    remote_id = agent.remote_id
    remote_agent_delete(agent=agent)
    assert remote_id not in fake_foundry.store.objects["assistants"]
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_a_refused_create_changes_nothing_locally(remote: RemoteProject, fake_foundry: FakeFoundry) -> None:
    fake_foundry.faults.append(Fault("POST", "/assistants", status=400))
    with pytest.raises(RemoteFailed):
        remote_agent_create(remote=remote, name="x", model="gpt-4o")
    assert not Agent.objects.filter(remote_project=remote).exists()


def test_a_timeout_on_adding_a_message_does_not_duplicate_it(
    remote: RemoteProject, fake_foundry: FakeFoundry, settings
) -> None:
    settings.REMOTE_TIMEOUT_SECONDS = 0.3
    thread = remote_thread_create(remote=remote)
    fake_foundry.faults.append(Fault("POST", r"/threads/[^/]+/messages", mode="slow_after", delay=1.0))
    message = remote_message_create(thread=thread, content="only once")
    on_remote = [m for m in fake_foundry.store.objects["messages"].values() if m["thread_id"] == thread.remote_id]
    assert [m["id"] for m in on_remote] == [message.remote_id]
    assert Message.objects.filter(thread=thread).count() == 1


def test_a_remote_run_is_followed_to_completion_in_this_process(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    agent = remote_agent_create(remote=remote, name="Bot", model="gpt-4o")
    thread = remote_thread_create(remote=remote)
    remote_message_create(thread=thread, content="ping")
    run = remote_run_create(thread=thread, agent=agent)
    assert run.status == "queued" and run.remote_project == remote
    remote_run_follow(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "completed" and run.heartbeat_at is None
    assert Message.objects.get(thread=thread, role="assistant").text == "Echo: ping"
    assert RunStep.objects.filter(run=run).count() == 1


def test_the_local_run_engine_leaves_remote_runs_alone(remote: RemoteProject, fake_foundry: FakeFoundry) -> None:
    agent = remote_agent_create(remote=remote, name="Bot", model="gpt-4o")
    thread = remote_thread_create(remote=remote)
    remote_message_create(thread=thread, content="ping")
    run = remote_run_create(thread=thread, agent=agent)
    from datetime import timedelta

    from django.utils import timezone

    later = timezone.now() + timedelta(days=1)
    assert runs_expire(now=later) == 0 and runs_reconcile(now=later) == 0
    run.refresh_from_db()
    assert run.status == "queued"


def test_remote_first_delete_is_refused_while_a_run_is_active(remote: RemoteProject, fake_foundry: FakeFoundry) -> None:
    agent = remote_agent_create(remote=remote, name="Bot", model="gpt-4o")
    thread = remote_thread_create(remote=remote)
    remote_message_create(thread=thread, content="/slow")
    remote_run_create(thread=thread, agent=agent)
    with pytest.raises(Conflict):
        remote_thread_delete(thread=thread)
    assert thread.remote_id in fake_foundry.store.objects["threads"]


def test_secrets_stay_out_of_errors_and_logs(
    remote: RemoteProject, fake_foundry: FakeFoundry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    remote_project_update(remote=remote, secret="sup3r-s3cret-value")
    with pytest.raises(RemoteFailed) as caught:
        remote_project_test(remote=remote)
    assert "HTTP 401" in caught.value.message
    assert "sup3r-s3cret-value" not in caught.value.message
    assert "sup3r-s3cret-value" not in caplog.text


@pytest.mark.worker
def test_a_remote_run_is_polled_to_completion_by_a_real_worker(
    celery_worker: Worker, fake_foundry: FakeFoundry
) -> None:
    remote = remote_project_create(
        name="azure-west", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key
    )
    agent = remote_agent_create(remote=remote, name="Bot", model="gpt-4o")
    thread = remote_thread_create(remote=remote)
    remote_message_create(thread=thread, content="hello from the console")
    run = remote_run_create(thread=thread, agent=agent)
    wait_for_status(run, "completed", timeout=30)
    reply = Message.objects.get(thread=thread, role="assistant")
    assert reply.text == "Echo: hello from the console" and reply.run_id == run.pk
    thread.refresh_from_db()
    assert thread.last_run_status == "completed" and thread.message_count == 2
    assert len(fake_foundry.requests_to("GET", r"/threads/[^/]+/runs/[^/]+")) >= 2


@pytest.mark.worker
def test_a_remote_tool_call_waits_for_outputs_then_completes_on_a_worker(
    celery_worker: Worker, fake_foundry: FakeFoundry
) -> None:
    remote = remote_project_create(
        name="azure-tools", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key
    )
    agent = remote_agent_create(remote=remote, name="Weather", model="gpt-4o")
    thread = remote_thread_create(remote=remote)
    remote_message_create(thread=thread, content='/tool get_weather {"city": "Paris"}')
    run = remote_run_create(thread=thread, agent=agent)
    wait_for_status(run, "requires_action", timeout=30)
    [call] = run.pending_tool_calls
    assert call["function"]["name"] == "get_weather"
    run = remote_run_submit_tool_outputs(run=run, tool_outputs=[{"tool_call_id": call["id"], "output": "21C"}])
    wait_for_status(run, "completed", timeout=30)
    assert "(tool said 21C)" in Message.objects.get(thread=thread, role="assistant").text
    assert set(Run.objects.get(pk=run.pk).steps.values_list("type", flat=True)) == {"tool_calls", "message_creation"}


def test_the_ordinary_services_act_on_mirrored_objects_remote_first(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    """The console and the API call the ordinary services; for a mirrored thread they go to the remote."""
    from agents_admin.services.runs import run_cancel, run_create
    from agents_admin.services.stores import RunOptions
    from agents_admin.services.threads import message_create, thread_delete

    agent = remote_agent_create(remote=remote, name="Bot", model="gpt-4o")
    thread = remote_thread_create(remote=remote)
    message = message_create(thread=thread, role="user", content="/slow")
    assert message.remote_id in fake_foundry.store.objects["messages"]
    run = run_create(thread=thread, agent=agent, options=RunOptions(instructions="Be brief."))
    assert fake_foundry.store.objects["runs"][run.remote_id]["instructions"] == "Be brief."
    run = run_cancel(run=run)
    assert run.status == "cancelling" and fake_foundry.store.objects["runs"][run.remote_id]["status"] == "cancelling"
    remote_run_follow(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled"
    remote_id = thread.remote_id
    thread_delete(thread=thread)
    assert remote_id not in fake_foundry.store.objects["threads"] and not Thread.objects.filter(pk=thread.pk).exists()


def test_the_retention_batch_seam_deletes_remotely_first_and_reports_failures(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    from agents_admin.services.remote import remote_threads_delete_remote_first
    from agents_admin.services.threads import thread_create
    from tests.factories import make_project

    local = thread_create(project=make_project())
    fine = remote_thread_create(remote=remote)
    failing = remote_thread_create(remote=remote)
    gone = remote_thread_create(remote=remote)
    fake_foundry.delete_remote("threads", gone.remote_id)
    fake_foundry.faults.append(Fault("DELETE", f"/threads/{failing.remote_id}", status=500, times=10))
    deletable, failures = remote_threads_delete_remote_first(thread_ids=[local.pk, fine.pk, failing.pk, gone.pk])
    assert deletable == [local.pk, fine.pk, gone.pk]
    assert [(f["thread_id"], f["remote_id"]) for f in failures] == [(failing.pk, failing.remote_id)]
    assert "HTTP 500" in failures[0]["error"] and failures[0]["remote_project"] == "azure-east"
    assert fine.remote_id not in fake_foundry.store.objects["threads"]
    assert failing.remote_id in fake_foundry.store.objects["threads"]
    assert (
        Thread.objects.filter(pk__in=[local.pk, fine.pk, failing.pk, gone.pk]).count() == 4
    )  # local delete is the caller's


def test_the_ordinary_agent_services_act_on_the_remote_for_a_remote_project(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    from agents_admin.models import AgentVersion
    from agents_admin.services.agents import agent_create, agent_delete, agent_update

    agent = agent_create(project=remote.project, name="Triage", model="gpt-4o", instructions="Sort.")
    assert (
        agent.remote_project == remote and fake_foundry.store.objects["assistants"][agent.remote_id]["name"] == "Triage"
    )
    agent = agent_update(agent=agent, instructions="Sort by urgency.")
    assert fake_foundry.store.objects["assistants"][agent.remote_id]["instructions"] == "Sort by urgency."
    assert agent.version == 2
    assert list(AgentVersion.objects.filter(agent=agent).values_list("version", flat=True)) == [2, 1]
    remote_id = agent.remote_id
    agent_delete(agent=agent)
    assert remote_id not in fake_foundry.store.objects["assistants"] and not Agent.objects.filter(pk=agent.pk).exists()


def test_deleting_a_mirrored_thread_with_an_active_run_is_refused_before_the_remote_is_asked(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    """A remote that would delete a thread with a live run (the fake does) must not be asked: the local
    refusal comes first, so the thread is not gone there while it stays here."""
    from agents_admin.services.threads import thread_delete

    agent = remote_agent_create(remote=remote, name="Bot", model="gpt-4o")
    thread = remote_thread_create(remote=remote)
    remote_message_create(thread=thread, content="/slow")
    remote_run_create(thread=thread, agent=agent)
    with pytest.raises(Conflict):
        thread_delete(thread=thread)
    assert thread.remote_id in fake_foundry.store.objects["threads"]
    assert Thread.objects.filter(pk=thread.pk).exists()
