"""Run traces recorded by the run engine (in-process, one turn at a time, the offline model): what a span holds,
its bounds, the switch that turns tracing off, and purging with the thread."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents_admin.models import Run, RunSpan, RunStep, Thread
from agents_admin.services import retention
from agents_admin.services.connections import connection_create
from agents_admin.services.runs import run_execute, run_submit_tool_outputs
from agents_admin.services.threads import thread_delete
from tests.factories import WEATHER_TOOL, make_agent, make_run, make_thread
from tests.model_server import FakeModelServer, raw
from tests.retention_helpers import make_policy

pytestmark = pytest.mark.django_db


def execute(run: Run) -> Run:
    run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


def test_a_run_records_its_wait_in_the_queue_and_its_model_call() -> None:
    run = execute(make_run(text="Hello there"))
    queued, call = RunSpan.objects.filter(run=run)
    assert queued.kind == "queue" and queued.ended_at == run.started_at
    assert call.kind == "model_call" and call.status == "ok"
    assert call.attributes["provider"] == "offline" and call.attributes["connection"] is None
    assert call.attributes["finish_reason"] == "stop"
    assert call.attributes["usage"]["completion_tokens"] == run.completion_tokens
    assert call.attributes["truncation"]["dropped"] == 0 and call.attributes["truncation"]["reason"] is None
    assert [m["role"] for m in call.input] == ["system", "user"]
    assert "Hello there" in call.attributes["output"]["text"]


def test_the_token_budget_drops_the_oldest_messages_and_says_so() -> None:
    thread = make_thread(messages=[("word " * 40).strip() for _ in range(6)] + ["And now?"])
    run = execute(make_run(thread=thread, agent=make_agent(), max_prompt_tokens=120))
    call = RunSpan.objects.get(run=run, kind="model_call")
    truncation = call.attributes["truncation"]
    assert truncation["reason"] == "max_prompt_tokens" and truncation["budget_tokens"] == 120
    assert truncation["dropped"] + truncation["kept"] == 7 and truncation["dropped"] >= 1
    assert len(call.input) == 1 + truncation["kept"]


def test_a_failed_model_call_is_an_error_span_and_the_run_fails() -> None:
    run = execute(make_run(text="please /fail"))
    call = RunSpan.objects.get(run=run, kind="model_call")
    assert call.status == "error"
    assert call.error == {"code": "offline_model_failure", "message": "The offline model was asked to fail (/fail)."}


def test_tool_outputs_become_tool_spans_naming_who_submitted_them(admin_user: Any) -> None:
    run = execute(make_run(agent=make_agent(tools=[WEATHER_TOOL]), text='/tool get_weather {"city": "Oslo"}'))
    [call] = run.pending_tool_calls
    run_submit_tool_outputs(run=run, tool_outputs=[{"tool_call_id": call["id"], "output": "3C"}], actor=admin_user)
    tool = RunSpan.objects.get(run=run, kind="tool_call")
    assert tool.attributes["submitted_by"] == admin_user.get_username()
    assert (tool.attributes["arguments"], tool.attributes["output"]) == ('{"city": "Oslo"}', "3C")


def test_large_inputs_are_stored_capped_and_say_how_much_was_left_out(settings: Any) -> None:
    settings.TRACE_MESSAGE_MAX_CHARS = 100
    settings.TRACE_TEXT_MAX_CHARS = 50
    run = execute(make_run(text="x" * 1_000))
    call = RunSpan.objects.get(run=run, kind="model_call")
    user = call.input[-1]
    assert user["content"] == "x" * 100 and user["omitted_chars"] == 900
    assert len(call.attributes["output"]["text"]) == 50 and call.attributes["output"]["omitted_chars"] > 0


def test_the_total_input_cap_leaves_out_the_oldest_history_first(settings: Any) -> None:
    settings.TRACE_INPUT_MAX_CHARS = 300
    thread = make_thread(messages=["a" * 200, "b" * 200, "the question"])
    run = execute(make_run(thread=thread, agent=make_agent()))
    call = RunSpan.objects.get(run=run, kind="model_call")
    assert [len(m["content"]) for m in call.input] == [0, 300 - 200 - 12, 200, 12]
    assert call.input[-1]["content"] == "the question" and call.input[1]["omitted_chars"] == 200 - 88
    assert call.input[0]["omitted_chars"] == len("You are helpful.")


def test_tracing_off_writes_no_spans(settings: Any) -> None:
    settings.TRACE_RUNS = False
    run = execute(make_run(text="Hello"))
    assert run.status == "completed"
    assert not RunSpan.objects.filter(run=run).exists()


def test_a_turn_writes_its_spans_in_one_insert() -> None:
    run = make_run(text="Hello")
    with CaptureQueriesContext(connection) as queries:
        run_execute(run_id=run.id)
    inserts = [q["sql"] for q in queries.captured_queries if "INSERT INTO" in q["sql"] and "runspan" in q["sql"]]
    assert len(inserts) == 1


def test_deleting_the_thread_deletes_its_trace() -> None:
    run = execute(make_run(text="Hello"))
    assert RunSpan.objects.filter(run=run).count() == 2
    report = thread_delete(thread=run.thread)
    assert report.runs == 1 and report.steps == 1
    assert not RunSpan.objects.filter(run_id=run.id).exists()


def test_the_retention_purge_deletes_traces_with_their_threads() -> None:
    run = execute(make_run(text="Hello"))
    kept = execute(make_run(text="Recent"))
    Thread.objects.filter(pk=run.thread_id).update(last_activity_at=timezone.now() - timedelta(days=40))
    policy = make_policy(days=30)
    report = retention.purge_start(policy=policy, trigger="manual", enqueue=False)
    report = retention.purge_execute(report_id=report.pk)
    assert report is not None and report.threads == 1 and report.runs == 1
    assert not RunSpan.objects.filter(run_id=run.id).exists()
    assert RunSpan.objects.filter(run_id=kept.id).count() == 2


def test_a_stream_that_breaks_fails_its_message_step_with_the_error(model_server: FakeModelServer) -> None:
    connection_create(
        fields={"name": "m", "kind": "openai_compatible", "endpoint": f"{model_server.url}/v1", "auth": "none",
                "is_default": True, "read_timeout": 5.0}
    )  # fmt: skip
    chunks = [{"choices": [{"index": 0, "delta": {"content": "Hel"}}]}, {"error": {"code": "oops", "message": "Gone"}}]
    model_server.add(
        raw(b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks), content_type="text/event-stream")
    )
    run = execute(make_run(text="Hello"))
    assert run.status == "failed"
    step = RunStep.objects.get(run=run)
    assert step.type == "message_creation" and step.status == "failed" and step.failed_at is not None
    assert step.last_error == {"code": "oops", "message": "Gone"}
    call = RunSpan.objects.get(run=run, kind="model_call")
    assert call.error == {"code": "oops", "message": "Gone"} and call.attributes["ttft_ms"] is not None
