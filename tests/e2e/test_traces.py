"""End to end: a real worker calls a real model server on 127.0.0.1, and the run's trace says what happened."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents_admin.models import Message, ModelConnection, Run, RunSpan, RunStep
from agents_admin.services.connections import connection_create
from agents_admin.services.runs import run_submit_tool_outputs
from tests.conftest import Worker, wait_for, wait_for_status
from tests.factories import WEATHER_TOOL, make_agent, make_run, make_thread
from tests.model_server import FakeModelServer, answer, error, tool_calls

pytestmark = pytest.mark.worker


def connect(server: FakeModelServer) -> ModelConnection:
    return connection_create(
        fields={
            "name": "local-llama",
            "kind": "openai_compatible",
            "endpoint": f"{server.url}/v1",
            "auth": "none",
            "deployments": {"gpt-4o": "llama3.2"},
            "read_timeout": 10.0,
        }
    )


def spans_of(run: Run, count: int) -> list[RunSpan]:
    return wait_for(lambda: (s := list(RunSpan.objects.filter(run=run))) and len(s) >= count and s)


def test_truncation_a_retry_a_tool_call_and_two_model_calls_make_a_trace_that_adds_up(
    celery_worker: Worker, model_server: FakeModelServer
) -> None:
    connect(model_server)
    model_server.add(
        error(429, "Slow down", headers={"Retry-After": "0.3"}),
        tool_calls(("get_weather", '{"city": "Paris"}')),
        answer("It is 22C in Paris."),
    )
    thread = make_thread(messages=["one", "two", "three", "four", "What is the weather in Paris?"])
    agent = make_agent(tools=[WEATHER_TOOL], temperature=0.2)
    run = make_run(
        thread=thread,
        agent=agent,
        truncation_strategy={"type": "last_messages", "last_messages": 2},
        max_completion_tokens=300,
    )
    wait_for_status(run, "requires_action")
    [call] = run.pending_tool_calls
    run_submit_tool_outputs(
        run=run, tool_outputs=[{"tool_call_id": call["id"], "output": "22C"}], actor_label="api-key:ab12"
    )
    wait_for_status(run, "completed")
    spans = spans_of(run, 5)
    assert [(s.kind, s.status) for s in spans] == [
        ("queue", "ok"),
        ("model_call", "ok"),
        ("tool_call", "ok"),
        ("queue", "ok"),
        ("model_call", "ok"),
    ]
    queued, first, tool, requeued, second = spans

    # The first call: what was sent, after truncation, with the retry after the 429.
    attrs = first.attributes
    assert first.name == "chat gpt-4o" and attrs["turn"] == 1
    assert attrs["connection"]["name"] == "local-llama" and attrs["deployment"] == "llama3.2"
    assert attrs["provider"] == "openai_compatible"
    assert attrs["parameters"] == {
        "temperature": 0.2,
        "max_completion_tokens": 300,
        "parallel_tool_calls": True,
    }
    assert attrs["tools"] == [{"type": "function", "name": "get_weather"}]
    assert attrs["truncation"]["dropped"] == 3 and attrs["truncation"]["reason"] == "last_messages"
    assert attrs["truncation"]["kept"] == 2
    sent = model_server.requests[1].body["messages"]
    assert [(m["role"], m["content"]) for m in first.input] == [(m["role"], m["content"]) for m in sent]
    assert [m["content"] for m in first.input] == ["You are helpful.", "four", "What is the weather in Paris?"]
    [retry] = attrs["retries"]
    assert retry["attempt"] == 1 and retry["code"] == "rate_limit_exceeded" and "Slow down" in retry["message"]
    assert retry["wait_ms"] >= 300 and retry["retry_after_ms"] == 300
    assert attrs["finish_reason"] == "tool_calls"
    assert attrs["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
    assert attrs["output"]["tool_calls"][0]["name"] == "get_weather"
    assert attrs["latency_ms"] >= retry["wait_ms"]

    # The tool call: what it was asked, what came back, who answered, and how long the run waited.
    step = RunStep.objects.get(run=run, type="tool_calls")
    assert tool.name == "get_weather"
    assert tool.attributes["arguments"] == '{"city": "Paris"}' and tool.attributes["output"] == "22C"
    assert tool.attributes["submitted_by"] == "api-key:ab12"
    assert tool.started_at == step.created_at and tool.ended_at == step.completed_at
    assert tool.attributes["wait_ms"] == tool.duration_ms

    # The second call saw the tool's answer, streamed its text (time to first token) and finished.
    assert second.attributes["turn"] == 2 and second.attributes["finish_reason"] == "stop"
    assert [m["role"] for m in second.input][-2:] == ["assistant", "tool"]
    assert second.attributes["output"]["text"] == "It is 22C in Paris."
    assert second.attributes["ttft_ms"] is not None and second.attributes["ttft_ms"] <= second.attributes["latency_ms"]

    # Timings add up: in order, never overlapping, all inside the run, and no longer than it.
    run.refresh_from_db()
    assert queued.started_at <= run.created_at + timedelta(milliseconds=50)
    for before, after in zip(spans, spans[1:], strict=False):
        assert before.ended_at <= after.started_at
    assert second.ended_at <= run.completed_at
    total = (run.completed_at - run.created_at).total_seconds() * 1000
    assert sum(s.duration_ms for s in spans) <= total
    assert requeued.started_at == tool.ended_at

    # The message-creation step was created before its message and completed after it.
    message_step = RunStep.objects.get(run=run, type="message_creation")
    reply = Message.objects.get(run=run)
    assert message_step.created_at <= reply.created_at and message_step.completed_at >= reply.completed_at


def test_a_failed_call_is_a_span_with_the_error(celery_worker: Worker, model_server: FakeModelServer) -> None:
    connect(model_server)
    model_server.add(error(400, "context too long", code="context_length_exceeded"))
    run = make_run(text="Hello")
    wait_for_status(run, "failed")
    queued, call = spans_of(run, 2)
    assert call.kind == "model_call" and call.status == "error"
    assert call.error == {"code": "bad_request", "message": "HTTP 400: context too long"}
    assert run.last_error["code"] == "bad_request"
    assert call.attributes["retries"] == []
