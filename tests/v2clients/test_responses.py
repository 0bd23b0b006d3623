"""Responses through the ``openai`` client from ``get_openai_client()``, executed by a real worker: synchronous,
streamed, in the background (polled, resumed, cancelled), function calling, deleting."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from azure.ai.projects import AIProjectClient
from azure.ai.projects.models import PromptAgentDefinition
from openai import OpenAI

from agents_admin.models import AuditEvent, Message, Response, Run
from tests.api_support import HttpsServer
from tests.conftest import Worker, wait_for

pytestmark = pytest.mark.worker

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}


def agent_ref(name: str, version: str | None = None) -> dict[str, Any]:
    reference = {"type": "agent_reference", "name": name}
    return {"agent_reference": {**reference, "version": version} if version else reference}


@pytest.fixture
def agent(project_client: AIProjectClient) -> str:
    project_client.agents.create_version(
        agent_name="helper", definition=PromptAgentDefinition(model="gpt-4o", instructions="Be kind.", tools=[WEATHER])
    )
    return "helper"


def test_a_response_in_a_conversation_answers_and_is_a_run(
    celery_worker: Worker, openai_client: OpenAI, agent: str
) -> None:
    conversation = openai_client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "Hello from the conversation"}]
    )
    # The sample's way: the user turn is already in the conversation, so the input is empty.
    response = openai_client.responses.create(conversation=conversation.id, input="", extra_body=agent_ref(agent))
    assert response.status == "completed" and response.id.startswith("resp_")
    assert "Hello from the conversation" in response.output_text
    assert response.conversation is not None and response.conversation.id == conversation.id
    assert response.usage is not None and response.usage.total_tokens > 0
    assert response.model == "gpt-4o" and response.instructions == "Be kind."
    # The console's run: the same engine, the same rows.
    run = Run.objects.get(response__id=response.id)
    assert (
        run.status == "completed"
        and run.thread_id == conversation.id
        and run.total_tokens == response.usage.total_tokens
    )
    # A second turn with text input: both turns are in the conversation, oldest first.
    second = openai_client.responses.create(
        conversation=conversation.id, input="And a second question", extra_body=agent_ref(agent, "1")
    )
    assert "And a second question" in second.output_text
    items = list(openai_client.conversations.items.list(conversation.id, order="asc"))
    assert [i.role for i in items] == ["user", "assistant", "user", "assistant"]
    assert items[3].content[0].text == second.output_text
    # Foundry's item fields: which response wrote the answer, for which agent and version.
    assert items[3].to_dict()["response_id"] == second.id
    assert items[3].to_dict()["agent_reference"] == {"type": "agent_reference", "name": agent, "version": "1"}
    assert "response_id" not in items[2].to_dict()  # the user's own message
    assert openai_client.responses.retrieve(response.id).output_text == response.output_text
    [given] = openai_client.responses.input_items.list(second.id).data
    assert given.type == "message" and given.content[0].text == "And a second question" and given.id == items[2].id
    # The Foundry list of an agent's conversations (openai-python has no method for it: a plain GET).
    listed = openai_client.get("/conversations", cast_to=object, options={"params": {"agent_name": agent}})
    assert [c["id"] for c in listed["data"]] == [conversation.id]
    by_version = openai_client.get("/conversations", cast_to=object, options={"params": {"agent_id": f"{agent}:2"}})
    assert by_version["data"] == []
    # ...and of its responses, newest first.
    listed = openai_client.get("/responses", cast_to=object, options={"params": {"conversation_id": conversation.id}})
    assert [r["id"] for r in listed["data"]] == [second.id, response.id]
    assert listed["data"][0]["output"][0]["content"][0]["text"] == second.output_text


def test_a_streamed_response_sends_the_documented_events_in_order(
    celery_worker: Worker, openai_client: OpenAI, agent: str
) -> None:
    conversation = openai_client.conversations.create()
    events = list(
        openai_client.responses.create(
            conversation=conversation.id, input="/slow tell me a story", stream=True, extra_body=agent_ref(agent)
        )
    )
    types = [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 3
    head = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    tail = [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert types == head + ["response.output_text.delta"] * len(deltas) + tail
    final = events[-1].response
    assert "".join(deltas) == final.output_text and "tell me a story" in final.output_text
    assert final.usage is not None and final.usage.output_tokens > 0
    assert Message.objects.get(pk=final.output[0].id).text == final.output_text


@pytest.mark.timeout(120)
def test_a_streamed_response_gets_the_words_between_the_workers_checkpoints_and_replays_them_alike(
    own_workers: list[Worker], openai_client: OpenAI, agent: str
) -> None:
    """This worker writes the answer to the store once a minute: the stream still gets it word by word as the
    model produces it (the worker's notices), and reading the finished response's stream again gives the very
    same events, numbers and deltas."""
    own_workers.append(Worker(RUN_CHECKPOINT_SECONDS="60", OFFLINE_SLOW_SECONDS="2"))
    events = list(
        openai_client.responses.create(input="/slow tell me a story", stream=True, extra_body=agent_ref(agent))
    )
    assert events[-1].type == "response.completed"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    text = events[-1].response.output_text
    assert "".join(deltas) == text and len(deltas) > len(text.split(" ")) // 2
    replay = list(openai_client.responses.retrieve(events[-1].response.id, stream=True))
    assert [(e.sequence_number, e.type, getattr(e, "delta", None)) for e in replay] == [
        (e.sequence_number, e.type, getattr(e, "delta", None)) for e in events
    ]


def test_a_background_response_is_polled_resumed_and_another_cancelled(
    celery_worker: Worker, openai_client: OpenAI, agent: str
) -> None:
    started = openai_client.responses.create(
        input="/slow in the background", background=True, extra_body=agent_ref(agent)
    )
    assert started.status in ("queued", "in_progress") and started.background
    assert started.conversation is None  # no conversation was named: the response chain has its own thread
    done = wait_for(lambda: _ended(openai_client, started.id), timeout=30)
    assert done.status == "completed" and "in the background" in done.output_text
    # The whole stream can be read again, and from any point on: the same events with the same numbers.
    replay = list(openai_client.responses.retrieve(started.id, stream=True))
    assert replay[0].type == "response.created" and replay[-1].type == "response.completed"
    resumed = list(openai_client.responses.retrieve(started.id, stream=True, starting_after=3))
    assert [(e.sequence_number, e.type) for e in resumed] == [(e.sequence_number, e.type) for e in replay[4:]]
    # Cancelling a background response that is still being written.
    slow = openai_client.responses.create(
        input="/slow this one will be cancelled", background=True, extra_body=agent_ref(agent)
    )
    wait_for(lambda: openai_client.responses.retrieve(slow.id).status == "in_progress", timeout=20)
    cancelled = openai_client.responses.cancel(slow.id)
    assert cancelled.status in ("in_progress", "cancelled")
    final = wait_for(lambda: _ended(openai_client, slow.id), timeout=20)
    assert final.status == "cancelled" and Run.objects.get(response__id=slow.id).status == "cancelled"
    assert openai_client.responses.cancel(slow.id).status == "cancelled"  # cancelling twice is harmless
    with pytest.raises(openai.BadRequestError):
        openai_client.responses.cancel(done.id)  # it has completed
    foreground = openai_client.responses.create(input="quick", extra_body=agent_ref(agent))
    with pytest.raises(openai.BadRequestError) as not_background:
        openai_client.responses.cancel(foreground.id)
    assert "background" in not_background.value.message


def test_function_calling_round_trip(celery_worker: Worker, openai_client: OpenAI, agent: str) -> None:
    conversation = openai_client.conversations.create()
    first = openai_client.responses.create(
        conversation=conversation.id,
        input='What is the weather? /tool get_weather {"city": "Paris"}',
        extra_body=agent_ref(agent),
    )
    assert first.status == "completed"
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    second = openai_client.responses.create(
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"temp_c": 21})}],
        previous_response_id=first.id,
        extra_body=agent_ref(agent),
    )
    assert second.status == "completed" and '"temp_c": 21' in second.output_text
    assert second.previous_response_id == first.id and second.conversation.id == conversation.id
    # The console shows two runs of the conversation, the first with its tool call answered.
    runs = list(Run.objects.filter(thread_id=conversation.id).order_by("created_at"))
    assert [r.status for r in runs] == ["completed", "completed"]
    [step] = runs[0].steps.filter(type="tool_calls")
    assert step.tool_calls[0]["function"]["output"] == json.dumps({"temp_c": 21})
    # The conversation lists the call and its output where they happened, between the question and the answer.
    items = list(openai_client.conversations.items.list(conversation.id, order="asc"))
    assert [i.type for i in items] == ["message", "function_call", "function_call_output", "message"]
    assert items[1].id == call.id and items[1].call_id == items[2].call_id == call.call_id
    assert json.loads(items[2].output) == {"temp_c": 21} and '"temp_c": 21' in items[3].content[0].text
    assert [i.id for i in openai_client.conversations.items.list(conversation.id, limit=1)] == [
        i.id for i in reversed(items)
    ]
    got = openai_client.conversations.items.retrieve(items[1].id, conversation_id=conversation.id)
    assert got.type == "function_call" and got.name == "get_weather"
    with pytest.raises(openai.BadRequestError) as kept:
        openai_client.conversations.items.delete(items[2].id, conversation_id=conversation.id)
    assert kept.value.param == "item_id" and second.id in kept.value.message
    with pytest.raises(openai.BadRequestError) as unknown:
        openai_client.responses.create(
            input=[{"type": "function_call_output", "call_id": "call_nope", "output": "x"}],
            previous_response_id=first.id,
            extra_body=agent_ref(agent),
        )
    assert unknown.value.param == "input"


def test_overrides_are_refused_as_the_service_refuses_them(openai_client: OpenAI, agent: str) -> None:
    for override in ({"tools": [WEATHER]}, {"tool_choice": "none"}, {"instructions": "Be rude."}):
        with pytest.raises(openai.BadRequestError) as refused:
            openai_client.responses.create(input="hi", extra_body=agent_ref(agent), **override)
        error = refused.value.body
        assert refused.value.code == "invalid_payload" and error["message"] == "Not allowed when agent is specified."
        assert refused.value.param == next(iter(override))
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.create(input="hi", extra_body=agent_ref("nobody"))
    assert not Response.objects.exists() and not Run.objects.exists()


def test_a_response_is_deleted(celery_worker: Worker, openai_client: OpenAI, agent: str) -> None:
    conversation = openai_client.conversations.create()
    response = openai_client.responses.create(
        conversation=conversation.id, input="keep me", extra_body=agent_ref(agent)
    )
    openai_client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(response.id)
    assert AuditEvent.objects.filter(action="response.delete", object_id=response.id).count() == 1
    # The conversation keeps its items.
    assert len(openai_client.conversations.items.list(conversation.id).data) == 2


def test_the_beta_routes_take_an_api_version_and_the_older_agent_key(
    celery_worker: Worker, agent: str, https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str
) -> None:
    # How azure-ai-projects 2.0.0b1-b3 built its client: endpoint + "/openai" and an api-version on every call.
    client = OpenAI(
        base_url=f"{https_server.url}/api/projects/default/openai",
        api_key=api_key,
        default_query={"api-version": "2025-11-15-preview"},
        http_client=httpx2.Client(verify=ssl.create_default_context(cafile=str(dev_cert[0]))),
        max_retries=0,
    )
    conversation = client.conversations.create(items=[{"role": "user", "content": "beta hello"}])
    response = client.responses.create(
        conversation=conversation.id, input="", extra_body={"agent": {"type": "agent_reference", "name": agent}}
    )
    assert "beta hello" in response.output_text
    client.close()


def _ended(client: OpenAI, response_id: str) -> Any:
    response = client.responses.retrieve(response_id)
    return response if response.status not in ("queued", "in_progress") else None
