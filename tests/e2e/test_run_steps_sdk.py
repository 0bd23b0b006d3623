"""Run steps through the official azure-ai-agents SDK, field by field against its models: list and get, per-step
usage and times, tool calls before and after outputs, cancelled and incomplete runs, and streamed step events."""

from __future__ import annotations

from typing import Any

import pytest
from azure.ai.agents import AgentsClient
from azure.ai.agents.models import (
    AgentEventHandler,
    FunctionTool,
    ListSortOrder,
    RunStep,
    RunStepDeltaChunk,
    RunStepDeltaFunctionToolCall,
    RunStepFunctionToolCall,
    RunStepMessageCreationDetails,
    RunStepToolCallDetails,
    ThreadMessage,
)

from tests.conftest import Worker, wait_for

pytestmark = pytest.mark.worker
pytest_plugins = ["tests.api_support"]


def get_weather(city: str) -> str:
    """Current weather for a city.

    :param city: The city name.
    :return: The weather.
    """
    return f"22C in {city}"


def value(enum: Any) -> str:
    return str(getattr(enum, "value", enum))


def wire_fields(model: Any) -> set[str]:
    """The wire names the SDK model declares."""
    return {field._rest_name for field in model._attr_to_rest_field.values()}


def steps_of(client: AgentsClient, thread_id: str, run_id: str) -> list[RunStep]:
    return list(client.run_steps.list(thread_id=thread_id, run_id=run_id, order=ListSortOrder.ASCENDING))


def wait_status(client: AgentsClient, thread_id: str, run_id: str, *statuses: str) -> Any:
    return wait_for(lambda: (r := client.runs.get(thread_id=thread_id, run_id=run_id)).status in statuses and r)


def test_steps_of_a_tool_run_match_the_sdk_models(celery_worker: Worker, agents_client: AgentsClient) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="steps", tools=FunctionTool({get_weather}).definitions)
    thread = agents_client.threads.create()
    agents_client.messages.create(thread_id=thread.id, role="user", content='/tool get_weather {"city": "Paris"}')
    run = agents_client.runs.create(thread_id=thread.id, agent_id=agent.id)
    run = wait_status(agents_client, thread.id, run.id, "requires_action")

    [waiting] = steps_of(agents_client, thread.id, run.id)
    assert set(waiting.as_dict()) == wire_fields(waiting)
    assert waiting.type == "tool_calls" and waiting.status == "in_progress" and waiting.agent_id == agent.id
    assert waiting.usage is None and waiting.completed_at is None and waiting.created_at is not None
    assert isinstance(waiting.step_details, RunStepToolCallDetails)
    [call] = waiting.step_details.tool_calls
    assert isinstance(call, RunStepFunctionToolCall)
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Paris"}'
    assert call.function.as_dict()["output"] is None  # null before outputs, as the service sends it

    agents_client.runs.submit_tool_outputs(
        thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "22C"}]
    )
    wait_status(agents_client, thread.id, run.id, "completed")
    tool_step, message_step = steps_of(agents_client, thread.id, run.id)
    for step in (tool_step, message_step):
        assert set(step.as_dict()) == wire_fields(step)
        assert step.status == "completed" and step.completed_at >= step.created_at
        assert step.usage.total_tokens == step.usage.prompt_tokens + step.usage.completion_tokens > 0
    assert tool_step.step_details.tool_calls[0].function.as_dict()["output"] == "22C"
    assert tool_step.completed_at <= message_step.created_at
    assert isinstance(message_step.step_details, RunStepMessageCreationDetails)
    message = agents_client.messages.get(
        thread_id=thread.id, message_id=message_step.step_details.message_creation.message_id
    )
    assert message_step.created_at <= message.created_at and message_step.completed_at >= message.completed_at
    again = agents_client.run_steps.get(thread_id=thread.id, run_id=run.id, step_id=message_step.id)
    assert again.as_dict() == message_step.as_dict()


def test_a_cancelled_run_keeps_its_cancelled_step(celery_worker: Worker, agents_client: AgentsClient) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="cancel", tools=FunctionTool({get_weather}).definitions)
    thread = agents_client.threads.create()
    agents_client.messages.create(thread_id=thread.id, role="user", content="/tool")
    run = agents_client.runs.create(thread_id=thread.id, agent_id=agent.id)
    wait_status(agents_client, thread.id, run.id, "requires_action")
    agents_client.runs.cancel(thread_id=thread.id, run_id=run.id)
    [step] = steps_of(agents_client, thread.id, run.id)
    assert step.status == "cancelled" and step.cancelled_at is not None and step.completed_at is None


def test_an_incomplete_run_has_its_completed_message_step(celery_worker: Worker, agents_client: AgentsClient) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="short")
    thread = agents_client.threads.create()
    agents_client.messages.create(thread_id=thread.id, role="user", content="/long")
    run = agents_client.runs.create(thread_id=thread.id, agent_id=agent.id, max_completion_tokens=5)
    run = wait_status(agents_client, thread.id, run.id, "incomplete")
    [step] = steps_of(agents_client, thread.id, run.id)
    assert step.type == "message_creation" and step.status == "completed"
    assert step.usage.completion_tokens == run.usage.completion_tokens > 0


class Events(AgentEventHandler[None]):
    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        self.deltas: list[RunStepDeltaChunk] = []
        self.steps: list[RunStep] = []

    def on_run_step(self, step: RunStep) -> None:
        self.order.append(f"step.{value(step.type)}.{value(step.status)}")
        self.steps.append(step)

    def on_run_step_delta(self, delta: RunStepDeltaChunk) -> None:
        self.order.append("step.delta")
        self.deltas.append(delta)

    def on_thread_message(self, message: ThreadMessage) -> None:
        self.order.append(f"message.{value(message.status)}")


def test_streamed_step_events_match_the_sdk_models(celery_worker: Worker, agents_client: AgentsClient) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="stream", tools=FunctionTool({get_weather}).definitions)
    thread = agents_client.threads.create()
    agents_client.messages.create(thread_id=thread.id, role="user", content='/tool get_weather {"city": "Oslo"}')
    first = Events()
    with agents_client.runs.stream(thread_id=thread.id, agent_id=agent.id, event_handler=first) as stream:
        stream.until_done()
    assert first.order == ["step.tool_calls.in_progress", "step.tool_calls.in_progress", "step.delta"]
    [delta] = first.deltas
    assert set(delta.as_dict()) == wire_fields(delta)
    step_id = first.steps[0].id
    assert delta.id == step_id and delta.object == "thread.run.step.delta"
    [call] = delta.delta.step_details.tool_calls
    assert isinstance(call, RunStepDeltaFunctionToolCall) and call.index == 0
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Oslo"}'
    assert call.function.output is None

    run_id = first.steps[0].run_id
    second = Events()
    agents_client.runs.submit_tool_outputs_stream(
        thread_id=thread.id,
        run_id=run_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "3C"}],
        event_handler=second,
    )
    second.until_done()
    # The tool step completes, then the message step is created before its message and completes after it.
    assert second.order == [
        "step.tool_calls.completed",
        "step.message_creation.in_progress",
        "step.message_creation.in_progress",
        "message.in_progress",
        "message.in_progress",
        "message.completed",
        "step.message_creation.completed",
    ]
    # Each streamed step is the stored one at that moment (the SDK leaves nulls out of streamed models).
    for step in second.steps:
        assert set(step.as_dict()) <= wire_fields(step)
    stored = agents_client.run_steps.get(thread_id=thread.id, run_id=run_id, step_id=second.steps[-1].id).as_dict()
    assert second.steps[-1].as_dict() == {k: v for k, v in stored.items() if v is not None}
    assert second.steps[0].step_details.tool_calls[0].function.as_dict()["output"] == "3C"
    assert second.steps[-1].usage is not None and second.steps[1].usage is None
