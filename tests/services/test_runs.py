"""Run-engine rules that need no worker: validation, cancel before a worker claims, expiry, the claim, and what
one turn executed in this process writes."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import Message, Run, RunSpan, RunStep, UsageRollup
from agents_admin.selectors.traces import run_trace
from agents_admin.services import runs
from agents_admin.services.agents import agent_delete
from agents_admin.services.runs import (
    claim_is_dead,
    run_cancel,
    run_claim,
    run_execute,
    run_submit_tool_outputs,
    runs_expire,
    runs_reconcile,
    worker_token,
)
from agents_admin.services.threads import message_create
from agents_admin.services.usage import runs_settle
from tests.factories import make_agent, make_project, make_run, make_thread

pytestmark = pytest.mark.django_db


def test_a_queued_run_is_cancelled_at_once() -> None:
    run = make_run()
    run = run_cancel(run=run)
    assert run.status == "cancelled" and run.cancelled_at is not None
    assert not run_claim(run.id)


def test_cancelling_a_finished_run_is_refused() -> None:
    run = make_run()
    Run.objects.filter(pk=run.pk).update(status="completed")
    run.refresh_from_db()
    with pytest.raises(Conflict, match="already ended"):
        run_cancel(run=run)


def test_only_one_claim_wins() -> None:
    run = make_run()
    assert run_claim(run.id) is True
    run.refresh_from_db()
    assert run.claimed_by == worker_token()
    # Another live worker process on this machine holds it (this test's parent process stands in for it).
    Run.objects.filter(pk=run.pk).update(claimed_by=f"{worker_token().split('/')[0]}/{os.getppid()}/other")
    assert run_claim(run.id) is False
    run.refresh_from_db()
    assert run.status == "in_progress" and run.attempts == 1


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_claim_is_dead_when_its_process_is_gone_or_its_lease_ran_out(settings) -> None:
    now = timezone.now()
    host = worker_token().split("/")[0]
    fresh, stale = now, now - timedelta(seconds=settings.RUN_LEASE_SECONDS + 1)
    assert claim_is_dead(f"{host}/{_dead_pid()}/n", fresh, now)
    assert not claim_is_dead(f"{host}/{os.getppid()}/n", fresh, now)
    assert claim_is_dead(f"{host}/{os.getppid()}/n", stale, now)
    # Another machine's process cannot be looked at: its claim holds until its lease runs out.
    assert not claim_is_dead(f"elsewhere:0:0/{_dead_pid()}/n", fresh, now)
    assert claim_is_dead(f"elsewhere:0:0/{_dead_pid()}/n", stale, now)
    assert claim_is_dead("", None, now)


def test_a_redelivered_task_takes_over_a_run_whose_worker_died() -> None:
    run = make_run()
    assert run_claim(run.id)
    Run.objects.filter(pk=run.pk).update(claimed_by=f"{worker_token().split('/')[0]}/{_dead_pid()}/gone")
    assert run_claim(run.id) is True
    run.refresh_from_db()
    assert run.status == "in_progress" and run.attempts == 2 and run.claimed_by == worker_token()


def test_the_third_dead_claim_fails_the_run_and_closes_its_partial_message(settings) -> None:
    run = make_run()
    assert run_claim(run.id)
    partial = message_create(thread=run.thread, role="assistant", content="half an ans", run=run, status="in_progress")
    Run.objects.filter(pk=run.pk).update(attempts=3, claimed_by=f"{worker_token().split('/')[0]}/{_dead_pid()}/x")
    assert run_claim(run.id) is False
    run.refresh_from_db()
    partial.refresh_from_db()
    assert run.status == "failed" and run.last_error["code"] == "worker_lost"
    assert partial.status == "incomplete" and partial.incomplete_details == {"reason": "run_failed"}


def test_the_reconciler_requeues_a_run_whose_worker_died_at_once(django_capture_on_commit_callbacks) -> None:
    run = make_run()
    assert run_claim(run.id)
    Run.objects.filter(pk=run.pk).update(claimed_by=f"{worker_token().split('/')[0]}/{_dead_pid()}/gone")
    with django_capture_on_commit_callbacks() as sent:
        assert runs_reconcile() == 1
    assert len(sent) == 1
    run.refresh_from_db()
    assert run.status == "queued" and run.claimed_by == ""
    # A live claim is left alone (this test's parent process stands in for a live worker).
    assert run_claim(run.id)
    Run.objects.filter(pk=run.pk).update(claimed_by=f"{worker_token().split('/')[0]}/{os.getppid()}/alive")
    assert runs_reconcile() == 0


def test_runs_past_their_deadline_expire_and_free_the_thread() -> None:
    run = make_run()
    assert runs_expire(now=timezone.now() + timedelta(seconds=601)) == 1
    run.refresh_from_db()
    assert run.status == "expired"
    run.thread.refresh_from_db()
    assert run.thread.last_run_status == "expired"
    assert runs_expire(now=timezone.now() + timedelta(seconds=601)) == 0


def test_a_run_expires_ten_minutes_after_creation() -> None:
    run = make_run()
    assert timedelta(seconds=599) < run.expires_at - run.created_at <= timedelta(seconds=601)


def _requires_action(run: Run) -> Run:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    Run.objects.filter(pk=run.pk).update(
        status="requires_action",
        required_action={"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}},
    )
    run.steps.create(thread=run.thread, type="tool_calls", step_details={"type": "tool_calls", "tool_calls": calls})
    run.refresh_from_db()
    return run


@pytest.mark.parametrize(
    ("outputs", "param"),
    [
        ([], "tool_outputs"),
        ([{"tool_call_id": "call_x", "output": "1"}], "tool_outputs[0].tool_call_id"),
        ([{"tool_call_id": "call_1"}, {"tool_call_id": "call_1"}], "tool_outputs[1]"),
        ("nope", "tool_outputs"),
    ],
)
def test_tool_outputs_must_answer_every_pending_call(outputs: object, param: str) -> None:
    run = _requires_action(make_run())
    with pytest.raises(InvalidInput) as error:
        run_submit_tool_outputs(run=run, tool_outputs=outputs)  # type: ignore[arg-type]
    assert error.value.param == param
    run.refresh_from_db()
    assert run.status == "requires_action"


def test_submitted_outputs_queue_the_run_again_and_are_kept_on_the_step() -> None:
    run = _requires_action(make_run())
    run = run_submit_tool_outputs(run=run, tool_outputs=[{"tool_call_id": "call_1", "output": {"t": 1}}])
    assert run.status == "queued" and run.required_action is None
    step = run.steps.get()
    assert step.status == "completed"
    assert json.loads(step.step_details["tool_calls"][0]["function"]["output"]) == {"t": 1}


def test_an_agent_of_another_project_cannot_run_on_the_thread() -> None:
    agent = make_agent(project=make_project("other"))
    with pytest.raises(InvalidInput) as error:
        make_run(agent=agent, thread=make_thread())
    assert error.value.param == "assistant_id"


def test_bad_run_options_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as error:
        make_run(truncation_strategy={"type": "last_messages", "last_messages": 0})
    assert error.value.param == "truncation_strategy.last_messages"
    assert not Run.objects.exists()


def test_a_run_created_while_the_broker_is_unreachable_stays_queued_for_the_reconciler(
    django_capture_on_commit_callbacks, monkeypatch, caplog
) -> None:
    from celery import current_app
    from kombu.exceptions import OperationalError

    def broker_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("Error 2 connecting to unix socket: No such file or directory.")

    monkeypatch.setattr(current_app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        run = make_run()
    run.refresh_from_db()
    assert run.status == "queued"
    assert "could not send agents_admin.tasks.run_execute" in caplog.text


WRITES = ("INSERT", "UPDATE", "DELETE")


def _statements(queries: CaptureQueriesContext) -> tuple[list[str], list[str]]:
    sql = [q["sql"].lstrip().upper() for q in queries.captured_queries]
    statements = [s for s in sql if not s.startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK"))]
    return statements, [s.split("(")[0].split(" SET ")[0] for s in statements if s.startswith(WRITES)]


@pytest.fixture
def settle_in_batches(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's settle as configured by default (tests otherwise settle after each run), counted afresh."""
    settings.RUN_SETTLE_BATCH, settings.RUN_SETTLE_SECONDS = 20, 60.0
    monkeypatch.setattr(runs, "_SETTLER", runs._Settler())


def test_a_turn_reads_three_times_and_writes_four_tables(settle_in_batches) -> None:
    run = make_run(text="Hello")
    with CaptureQueriesContext(connection) as queries:
        run_execute(run_id=run.id)
    statements, writes = _statements(queries)
    # The claim; then the run's final status (with its trace), the thread's list columns, the reply and its step.
    assert len(writes) == 5 and len(set(writes)) == 4, writes
    # Reads: the run with its thread, the connection the model resolves to, the thread's messages.
    assert len(statements) == 8, statements
    run.refresh_from_db()
    thread = run.thread
    assert run.status == "completed"
    assert (thread.message_count, thread.last_run_status) == (2, "completed")
    reply = Message.objects.get(run=run)
    assert (reply.seq, reply.status, reply.agent_id) == (2, "completed", run.agent_id)
    assert RunStep.objects.get(run=run).step_details["message_creation"]["message_id"] == reply.id
    # The trace page shows the spans the run carries until they are settled.
    assert [row.kind for row in run_trace(run).rows if row.span is not None] == ["queue", "model_call"]
    assert not RunSpan.objects.filter(run=run).exists() and not run.usage_counted


def test_finished_runs_are_settled_in_batches_once_even_after_their_worker_died(settle_in_batches) -> None:
    """Usage rollups and stored spans are written for many runs at once; a run's own row carries them until then,
    so a worker that dies after a run ended loses nothing, and a redelivered task counts nothing twice."""
    agent = make_agent()
    finished = [make_run(agent=agent, text=f"Question {n}") for n in range(5)]
    for run in finished:
        run_execute(run_id=run.id)
    # The worker is gone now (nothing settled in it); its redelivered tasks find the runs ended.
    for run in finished:
        run_execute(run_id=run.id)
    assert not UsageRollup.objects.exists()
    with CaptureQueriesContext(connection) as queries:
        assert runs_settle() == 5
    statements, writes = _statements(queries)
    # One locked read, one UPDATE marking them counted, one INSERT of all the spans, one upsert of the rollups
    # (their hour, day and summary rows take the same increments).
    assert len(statements) == 4 and len(writes) == 3, statements
    assert runs_settle() == 0
    assert sum(UsageRollup.objects.filter(period="hour").values_list("runs_completed", flat=True)) == 5
    assert RunSpan.objects.filter(run__in=finished).count() == 10
    assert not Run.objects.filter(trace_pending__isnull=False).exists()
    for run in finished:
        run.refresh_from_db()
        assert [row.kind for row in run_trace(run).rows if row.span is not None] == ["queue", "model_call"]


def test_a_worker_settles_once_its_batch_of_runs_ended(settle_in_batches, settings) -> None:
    settings.RUN_SETTLE_BATCH = 3
    runs_made = [make_run(text=f"Question {n}") for n in range(3)]
    for run in runs_made[:2]:
        run_execute(run_id=run.id)
    assert not UsageRollup.objects.exists()
    run_execute(run_id=runs_made[2].id)
    assert sum(UsageRollup.objects.filter(period="hour").values_list("runs_completed", flat=True)) == 3
    assert RunSpan.objects.filter(run__in=runs_made).count() == 6


def test_a_reply_names_no_agent_once_its_agent_was_deleted_during_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    agent = make_agent()
    run = make_run(agent=agent, text="Hello")
    call_model = runs._call_model

    def agent_goes(*args: object) -> object:
        reply = call_model(*args)
        agent_delete(agent=agent)
        return reply

    monkeypatch.setattr(runs, "_call_model", agent_goes)
    run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "completed"
    assert Message.objects.get(run=run).agent_id is None
