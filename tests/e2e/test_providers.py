"""End to end: a real Celery worker calls a real model server on 127.0.0.1 through a connection row."""

from __future__ import annotations

import threading

import pytest

from agents_admin.models import Message, ModelConnection, RunStep
from agents_admin.services.connections import connection_create
from agents_admin.services.runs import run_cancel, run_submit_tool_outputs
from tests.conftest import Worker, wait_for, wait_for_status
from tests.factories import WEATHER_TOOL, make_agent, make_run, make_thread
from tests.model_server import FakeModelServer, answer, error, raw, tool_calls

pytestmark = pytest.mark.worker


def connect(server: FakeModelServer, **fields) -> ModelConnection:
    values = {
        "name": "fake",
        "kind": "openai_compatible",
        "endpoint": f"{server.url}/v1",
        "auth": "api_key",
        "api_key": "sk-e2e",
        "deployments": {"gpt-4o": "llama3.2"},
        "read_timeout": 10.0,
    }
    values.update(fields)
    return connection_create(fields=values)


def test_parallel_tool_calls_round_trip_through_the_worker(
    celery_worker: Worker, model_server: FakeModelServer
) -> None:
    connect(model_server)
    model_server.add(
        tool_calls(("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Oslo"}')),
        answer("Paris is 22C and Oslo is 3C."),
    )
    run = make_run(agent=make_agent(tools=[WEATHER_TOOL]), text="Weather in Paris and Oslo?")
    wait_for_status(run, "requires_action")
    assert [c["function"]["arguments"] for c in run.pending_tool_calls] == ['{"city": "Paris"}', '{"city": "Oslo"}']
    run_submit_tool_outputs(
        run=run,
        tool_outputs=[{"tool_call_id": "call_0", "output": "22C"}, {"tool_call_id": "call_1", "output": "3C"}],
    )
    wait_for_status(run, "completed")
    assert Message.objects.get(thread=run.thread, role="assistant").text == "Paris is 22C and Oslo is 3C."
    assert [m["role"] for m in model_server.requests[1].body["messages"]][-3:] == ["assistant", "tool", "tool"]
    assert list(RunStep.objects.filter(run=run).values_list("type", flat=True)) == ["tool_calls", "message_creation"]
    assert run.total_tokens == 36


def test_streamed_text_is_visible_while_the_model_is_still_generating(
    celery_worker: Worker, model_server: FakeModelServer
) -> None:
    connect(model_server)
    gate = threading.Event()
    model_server.add(answer("Once upon a time there was a model", gate=gate, gate_after=2))
    run = make_run(text="Tell me a story")

    def partial() -> Message | None:
        return Message.objects.filter(thread=run.thread, role="assistant", status="in_progress").first()

    try:
        streaming = wait_for(partial)
        assert streaming.text.startswith("Once")
        run.refresh_from_db()
        assert run.status == "in_progress"
    finally:
        gate.set()
    wait_for_status(run, "completed")
    final = Message.objects.get(thread=run.thread, role="assistant")
    assert final.id == streaming.id
    assert final.status == "completed" and final.text == "Once upon a time there was a model"


def test_a_500_is_retried_by_the_worker_then_the_run_completes(
    celery_worker: Worker, model_server: FakeModelServer
) -> None:
    connect(model_server)
    model_server.add(error(503, "Service temporarily unavailable"), answer("Back online"))
    run = make_run()
    wait_for_status(run, "completed")
    assert len(model_server.requests) == 2
    assert Message.objects.get(thread=run.thread, role="assistant").text == "Back online"


def test_a_malformed_response_fails_the_run_and_the_worker_carries_on(
    celery_worker: Worker, model_server: FakeModelServer
) -> None:
    connect(model_server, stream=False)
    model_server.add(raw(b"{definitely not json"), answer("All good"))
    broken = make_run(text="first")
    wait_for_status(broken, "failed")
    assert broken.last_error["code"] == "malformed_response"
    assert celery_worker.process.poll() is None
    following = make_run(text="second")
    wait_for_status(following, "completed")
    assert Message.objects.get(thread=following.thread, role="assistant").text == "All good"


def test_a_permanent_error_fails_the_run_with_the_servers_message(
    celery_worker: Worker, model_server: FakeModelServer
) -> None:
    connect(model_server)
    model_server.add(error(400, "The prompt was filtered.", code="content_filter"))
    run = make_run()
    wait_for_status(run, "failed")
    assert run.last_error == {"code": "content_filter", "message": "HTTP 400: The prompt was filtered."}


def test_truncation_by_last_messages_through_the_worker(celery_worker: Worker, model_server: FakeModelServer) -> None:
    connect(model_server)
    thread = make_thread(messages=["one", "two", "three"])
    run = make_run(thread=thread, truncation_strategy={"type": "last_messages", "last_messages": 1})
    wait_for_status(run, "completed")
    assert [m["content"] for m in model_server.requests[0].body["messages"]] == ["You are helpful.", "three"]


def test_cancelling_while_the_model_streams_ends_the_run_cancelled(
    celery_worker: Worker, model_server: FakeModelServer
) -> None:
    connect(model_server)
    gate = threading.Event()
    model_server.add(answer("A long story that will be cut off", gate=gate, gate_after=1))
    run = make_run(text="Tell me a story")
    try:
        wait_for(lambda: Message.objects.filter(thread=run.thread, role="assistant", status="in_progress").exists())
        run_cancel(run=run)
    finally:
        gate.set()
    wait_for_status(run, "cancelled")
    partial = Message.objects.get(thread=run.thread, role="assistant")
    assert partial.status == "incomplete"
