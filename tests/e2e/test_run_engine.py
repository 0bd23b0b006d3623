"""End to end on a real Celery worker and the real broker: the run lifecycle as a user sees it."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from agents_admin.errors import Conflict, LimitExceeded
from agents_admin.models import Message, Run, RunStep
from agents_admin.services.agents import agent_delete
from agents_admin.services.runs import (
    RUN_REQUEUE_EMPTY_SECONDS,
    run_cancel,
    run_execute,
    run_submit_tool_outputs,
    runs_expire,
    runs_reconcile,
)
from agents_admin.services.threads import message_create
from tests.conftest import Worker, purge_queues, wait_for, wait_for_status
from tests.factories import WEATHER_TOOL, make_agent, make_run, make_thread

pytestmark = pytest.mark.worker


def test_a_run_completes_with_the_assistant_reply(celery_worker: Worker) -> None:
    run = make_run(text="Hello, agent")
    wait_for_status(run, "completed")
    reply = Message.objects.get(thread=run.thread, role="assistant")
    assert "Hello, agent" in reply.text
    assert reply.run_id == run.id and reply.seq == 2
    assert run.total_tokens and run.total_tokens == run.prompt_tokens + run.completion_tokens
    assert run.started_at and run.completed_at and run.started_at <= run.completed_at
    step = RunStep.objects.get(run=run)
    assert step.type == "message_creation" and step.step_details["message_creation"]["message_id"] == reply.id
    run.thread.refresh_from_db()
    assert run.thread.last_run_status == "completed" and run.thread.message_count == 2


def test_a_tool_call_pauses_the_run_and_submitted_outputs_continue_it(celery_worker: Worker) -> None:
    agent = make_agent(tools=[WEATHER_TOOL])
    run = make_run(agent=agent, text='/tool get_weather {"city": "Paris"}')
    wait_for_status(run, "requires_action")
    [call] = run.pending_tool_calls
    assert call["function"]["name"] == "get_weather"
    assert call["function"]["arguments"] == '{"city": "Paris"}'
    run_submit_tool_outputs(run=run, tool_outputs=[{"tool_call_id": call["id"], "output": "22C and sunny"}])
    wait_for_status(run, "completed")
    reply = Message.objects.get(thread=run.thread, role="assistant")
    assert "22C and sunny" in reply.text
    assert list(RunStep.objects.filter(run=run).values_list("type", "status")) == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]


def test_a_model_failure_fails_the_run_with_last_error(celery_worker: Worker) -> None:
    run = make_run(text="please /fail")
    wait_for_status(run, "failed")
    assert run.last_error == {
        "code": "offline_model_failure",
        "message": "The offline model was asked to fail (/fail).",
    }
    assert run.failed_at is not None
    assert not Message.objects.filter(thread=run.thread, role="assistant").exists()


def test_a_run_whose_agent_is_deleted_finishes_with_the_version_it_recorded(celery_worker: Worker) -> None:
    agent = make_agent(instructions="Recorded instructions.")
    agent_id = agent.id
    with transaction.atomic():  # the worker hears of the run only after the agent is gone
        queued = make_run(agent=agent, text="Hello, queued")
        agent_delete(agent=agent)
    wait_for_status(queued, "completed")
    assert queued.agent_id is None and queued.agent_ref == agent_id and queued.agent_version == 1
    assert "Hello, queued" in Message.objects.get(thread=queued.thread, role="assistant").text

    other = make_agent(name="Second")
    running = make_run(agent=other, text="/slow Hello, running")
    wait_for_status(running, "in_progress")
    agent_delete(agent=other)
    wait_for_status(running, "completed")
    reply = Message.objects.get(thread=running.thread, role="assistant")
    assert reply.status == "completed" and reply.agent_id is None and "Hello, running" in reply.text


def test_cancelling_a_slow_run_ends_it_cancelled(celery_worker: Worker, settings) -> None:
    run = make_run(text="/slow please")
    wait_for_status(run, "in_progress")
    run_cancel(run=run)
    wait_for_status(run, "cancelled")
    assert run.cancelled_at is not None
    partial = Message.objects.filter(thread=run.thread, role="assistant").first()
    assert partial is None or partial.status == "incomplete"


def test_one_active_run_per_thread(celery_worker: Worker) -> None:
    run = make_run(text="/slow")
    with pytest.raises(Conflict, match="already has an active run"):
        make_run(thread=run.thread, agent=run.agent)
    with pytest.raises(Conflict):
        message_create(thread=run.thread, role="user", content="more")
    run_cancel(run=run)
    wait_for_status(run, "cancelled")
    second = make_run(thread=run.thread, agent=run.agent)
    wait_for_status(second, "completed")


def test_a_run_waiting_on_tools_past_its_deadline_expires(celery_worker: Worker) -> None:
    run = make_run(agent=make_agent(tools=[WEATHER_TOOL]), text="/tool")
    wait_for_status(run, "requires_action")
    assert runs_expire(now=timezone.now() + timedelta(minutes=11)) == 1
    run.refresh_from_db()
    assert run.status == "expired" and run.required_action is None
    assert RunStep.objects.get(run=run).status == "expired"
    # The thread is free again.
    message_create(thread=run.thread, role="user", content="never mind")
    again = make_run(thread=run.thread, agent=run.agent)
    wait_for_status(again, "completed")


def _streaming(run: Run) -> Message:
    """Wait until the run has streamed part of its answer (a partial assistant message)."""
    return wait_for(
        lambda: Message.objects.filter(run=run, role="assistant", status="in_progress").exclude(text="").first()
    )


def _one_answer(run: Run) -> None:
    """Exactly one assistant message for the run's one completed attempt, and none left in progress."""
    answers = list(Message.objects.filter(thread=run.thread, role="assistant").values_list("status", flat=True))
    assert answers == ["completed"]


def test_a_run_survives_its_worker_being_killed(own_workers: list[Worker]) -> None:
    """SIGKILL the whole worker mid-run: the reconciler sees at once that the claim's process is gone and hands
    the run to a new worker, which continues the partial answer instead of adding a second one."""
    first = Worker(OFFLINE_SLOW_SECONDS="3")
    own_workers.append(first)
    run = make_run(text="/slow")
    partial = _streaming(run)
    first.kill()
    began = time.monotonic()
    # Before the next worker starts: its own start-up reconcile would otherwise race this one.
    assert runs_reconcile() == 1  # no lease to wait out: the claim's process is known to be dead
    own_workers.append(Worker(OFFLINE_SLOW_SECONDS="3"))
    wait_for_status(run, "completed", timeout=15)
    assert time.monotonic() - began < 15
    assert run.attempts == 2
    _one_answer(run)
    assert Message.objects.get(run=run, role="assistant").pk == partial.pk


def test_a_run_whose_pool_process_is_killed_is_taken_over_by_the_redelivered_task(own_workers: list[Worker]) -> None:
    """SIGKILL only the pool process running the run: the worker requeues its task, and the redelivered task
    takes the dead claim over at once (no reconciler involved), finishing the same message."""
    worker = Worker(OFFLINE_SLOW_SECONDS="3")
    own_workers.append(worker)
    run = make_run(text="/slow")
    _streaming(run)
    run.refresh_from_db()
    pid = int(run.claimed_by.split("/")[1])
    os.kill(pid, signal.SIGKILL)
    began = time.monotonic()
    wait_for_status(run, "completed", timeout=15)
    assert time.monotonic() - began < 15
    assert run.attempts == 2 and run.claimed_by.split("/")[1] != str(pid)
    _one_answer(run)


def test_a_live_claim_is_left_alone(celery_worker: Worker) -> None:
    """A duplicate delivery of a run that a live worker is working on does nothing."""
    run = make_run(text="/slow")
    wait_for_status(run, "in_progress")
    run_execute(run_id=run.id)  # this process is alive and so is the worker holding the claim
    run.refresh_from_db()
    assert run.attempts == 1
    wait_for_status(run, "completed", timeout=20)
    _one_answer(run)


def test_the_reconciler_resends_a_queued_run_the_broker_lost(own_workers: list[Worker], settings) -> None:
    run = make_run(text="lost message")
    purge_queues()  # the broker forgets the message, as a Redis restart without persistence would
    Run.objects.filter(pk=run.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=settings.RUN_REQUEUE_SECONDS + 1)
    )
    assert runs_reconcile() == 1
    own_workers.append(Worker())
    wait_for_status(run, "completed")
    assert runs_reconcile() == 0
    assert Message.objects.filter(thread=run.thread, role="assistant").count() == 1


def test_a_run_whose_message_is_gone_from_an_empty_broker_is_sent_again_within_seconds(
    own_workers: list[Worker],
) -> None:
    run = make_run(text="lost while nothing else waits")
    purge_queues()  # the broker restarted without persistence: its run queue is empty
    Run.objects.filter(pk=run.pk).update(enqueued_at=timezone.now() - timedelta(seconds=RUN_REQUEUE_EMPTY_SECONDS + 1))
    assert runs_reconcile() == 1
    own_workers.append(Worker())
    wait_for_status(run, "completed")


def test_a_worker_that_starts_brings_back_the_runs_of_the_worker_it_replaces(own_workers: list[Worker]) -> None:
    """No beat here: the new worker's own reconcile at start finds the run whose claim's process is gone."""
    first = Worker(OFFLINE_SLOW_SECONDS="3")
    own_workers.append(first)
    run = make_run(text="/slow")
    wait_for_status(run, "in_progress")
    first.kill()
    own_workers.append(Worker(OFFLINE_SLOW_SECONDS="3"))
    wait_for_status(run, "completed", timeout=15)
    assert list(Message.objects.filter(thread=run.thread, role="assistant").values_list("status", flat=True)) == [
        "completed"
    ]


def test_a_redelivered_task_does_nothing_twice(celery_worker: Worker) -> None:
    run = make_run(text="once")
    wait_for_status(run, "completed")
    run_execute(run_id=run.id)
    run_execute(run_id=run.id)
    assert Message.objects.filter(thread=run.thread, role="assistant").count() == 1


def test_a_thread_refuses_messages_past_its_limit(db, settings) -> None:
    settings.MAX_MESSAGES_PER_THREAD = 3
    thread = make_thread(messages=["a", "b", "c"])
    with pytest.raises(LimitExceeded, match="limit of 3 messages"):
        message_create(thread=thread, role="user", content="d")
    assert thread.messages.count() == 3
