"""The official azure-ai-agents SDK, unchanged, against the live server over HTTPS with a real worker."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.ai.agents import AgentsClient
from azure.ai.agents.models import (
    AgentEventHandler,
    AgentThreadCreationOptions,
    ConnectedAgentTool,
    FileSearchTool,
    FunctionTool,
    ListSortOrder,
    MessageDeltaChunk,
    MessageRole,
    OpenApiAnonymousAuthDetails,
    OpenApiTool,
    RunAdditionalFieldList,
    RunStep,
    ThreadMessageOptions,
    ThreadRun,
    ToolSet,
)
from azure.core.exceptions import HttpResponseError

from agents_admin.models import Message, Run
from tests.api_support import HttpsServer
from tests.conftest import Worker, wait_for
from tests.documents import HANDBOOK_PDF_LINES, NOTES_MARKDOWN, pdf_bytes
from tests.factories import WEATHER_TOOL, make_agent
from tests.tool_servers import WeatherApi

pytestmark = pytest.mark.worker
pytest_plugins = ["tests.api_support", "tests.tool_servers"]  # HTTPS server, SDK client, a tool API


def get_weather(city: str) -> str:
    """Current weather for a city.

    :param city: The city name.
    :return: The weather as JSON.
    """
    return json.dumps({"city": city, "temp_c": 21})


def test_the_quickstart_completes(celery_worker: Worker, agents_client: AgentsClient) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="my-agent", instructions="You are helpful.")
    assert agent.id.startswith("asst_") and agent.model == "gpt-4o"
    thread = agents_client.threads.create()
    message = agents_client.messages.create(thread_id=thread.id, role="user", content="Hello, agent")
    run = agents_client.runs.create_and_process(thread_id=thread.id, agent_id=agent.id, polling_interval=0.2)
    assert run.status == "completed", run.last_error
    assert run.usage is not None and run.usage.total_tokens > 0
    messages = list(agents_client.messages.list(thread_id=thread.id, order=ListSortOrder.ASCENDING))
    assert [m.id for m in messages][0] == message.id
    assert [m.role for m in messages] == [MessageRole.USER, MessageRole.AGENT]
    assert "Hello, agent" in messages[1].text_messages[0].text.value
    assert messages[1].run_id == run.id and messages[1].agent_id == agent.id
    last = agents_client.messages.get_last_message_text_by_role(thread_id=thread.id, role=MessageRole.AGENT)
    assert last is not None and "offline model" in last.text.value
    # The console reads the same rows: what the API made is there, in the same state.
    assert Run.objects.get(pk=run.id).status == "completed"
    assert Message.objects.filter(thread_id=thread.id).count() == 2
    agents_client.threads.delete(thread.id)
    agents_client.delete_agent(agent.id)
    assert not [a for a in agents_client.list_agents() if a.id == agent.id]


def test_create_and_process_runs_registered_functions(celery_worker: Worker, agents_client: AgentsClient) -> None:
    toolset = ToolSet()
    toolset.add(FunctionTool({get_weather}))
    agents_client.enable_auto_function_calls(toolset)
    agent = agents_client.create_agent(model="gpt-4o", name="fn", instructions="x", toolset=toolset)
    thread = agents_client.threads.create()
    agents_client.messages.create(thread_id=thread.id, role="user", content='/tool get_weather {"city": "Paris"}')
    run = agents_client.runs.create_and_process(thread_id=thread.id, agent_id=agent.id, polling_interval=0.2)
    assert run.status == "completed", run.last_error
    reply = agents_client.messages.get_last_message_text_by_role(thread_id=thread.id, role=MessageRole.AGENT)
    assert reply is not None and '"temp_c": 21' in reply.text.value
    steps = list(agents_client.run_steps.list(thread_id=thread.id, run_id=run.id, order=ListSortOrder.ASCENDING))
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    [call] = steps[0].step_details.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    step = agents_client.run_steps.get(thread_id=thread.id, run_id=run.id, step_id=steps[1].id)
    [answer] = agents_client.messages.list(thread_id=thread.id, run_id=run.id)
    assert step.step_details.message_creation.message_id == answer.id


def test_tool_outputs_submitted_by_hand_complete_the_run(celery_worker: Worker, agents_client: AgentsClient) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="fn", tools=[WEATHER_TOOL])
    thread = agents_client.threads.create(
        messages=[ThreadMessageOptions(role="user", content='/tool get_weather {"city": "Oslo"}')]
    )
    run = agents_client.runs.create(thread_id=thread.id, agent_id=agent.id)
    assert run.status == "queued" and run.expires_at is not None and run.usage is None
    run = wait_for(lambda: _status(agents_client, thread.id, run.id, "requires_action"))
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    run = agents_client.runs.submit_tool_outputs(
        thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "-3C, snow"}]
    )
    assert run.status in ("queued", "in_progress", "completed")
    run = wait_for(lambda: _status(agents_client, thread.id, run.id, "completed"))
    assert run.expires_at is None and run.completed_at is not None
    messages = list(agents_client.messages.list(thread_id=thread.id, run_id=run.id))
    assert len(messages) == 1 and "-3C, snow" in messages[0].text_messages[0].text.value
    run = agents_client.runs.update(thread_id=thread.id, run_id=run.id, metadata={"reviewed": "yes"})
    assert run.metadata == {"reviewed": "yes"}
    assert [r.id for r in agents_client.runs.list(thread_id=thread.id)] == [run.id]


def test_a_slow_run_can_be_cancelled(celery_worker: Worker, agents_client: AgentsClient) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="slow")
    thread = agents_client.threads.create(messages=[ThreadMessageOptions(role="user", content="/slow please")])
    run = agents_client.runs.create(thread_id=thread.id, agent_id=agent.id)
    wait_for(lambda: _status(agents_client, thread.id, run.id, "in_progress"))
    cancelled = agents_client.runs.cancel(thread_id=thread.id, run_id=run.id)
    assert cancelled.status in ("cancelling", "cancelled")
    run = wait_for(lambda: _status(agents_client, thread.id, run.id, "cancelled"))
    assert run.cancelled_at is not None


def test_create_thread_and_process_run(celery_worker: Worker, agents_client: AgentsClient) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="t&r")
    run = agents_client.create_thread_and_process_run(
        agent_id=agent.id,
        thread=AgentThreadCreationOptions(messages=[ThreadMessageOptions(role="user", content="hello there")]),
        polling_interval=0.2,
    )
    assert run.status == "completed"
    texts = [m.text_messages[0].text.value for m in agents_client.messages.list(thread_id=run.thread_id)]
    assert len(texts) == 2 and "hello there" in texts[0] and texts[1] == "hello there"


class Recorder(AgentEventHandler[None]):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[str] = []
        self.statuses: list[str] = []
        self.steps: list[tuple[str, str]] = []
        self.errors: list[str] = []

    def on_message_delta(self, delta: MessageDeltaChunk) -> None:
        self.deltas.append(delta.text)

    def on_thread_run(self, run: ThreadRun) -> None:
        self.statuses.append(run.status)

    def on_run_step(self, step: RunStep) -> None:
        self.steps.append((step.type, step.status))

    def on_error(self, data: str) -> None:
        self.errors.append(data)


def test_a_streamed_run_delivers_the_text_as_deltas(celery_worker: Worker, agents_client: AgentsClient) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="stream")
    thread = agents_client.threads.create()
    agents_client.messages.create(thread_id=thread.id, role="user", content="/slow tell me a story")
    events: list[str] = []
    handler = Recorder()
    with agents_client.runs.stream(thread_id=thread.id, agent_id=agent.id, event_handler=handler) as stream:
        for event_type, _data, _ in stream:
            events.append(event_type)
    assert handler.errors == []
    assert events[0] == "thread.run.created" and events[-1] == "done"
    assert events.index("thread.message.created") < events.index("thread.message.completed")
    assert handler.statuses[-1] == "completed"
    assert ("message_creation", "completed") in handler.steps
    # Several deltas (the worker streams word by word) that add up to the stored answer.
    assert len(handler.deltas) > 1
    final = agents_client.messages.get_last_message_text_by_role(thread_id=thread.id, role=MessageRole.AGENT)
    assert final is not None and "".join(handler.deltas) == final.text.value


def test_a_streamed_tool_call_stops_at_requires_action_and_resumes(
    celery_worker: Worker, agents_client: AgentsClient
) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="fn", tools=[WEATHER_TOOL])
    thread = agents_client.threads.create()
    agents_client.messages.create(thread_id=thread.id, role="user", content="/tool")
    first = Recorder()
    with agents_client.runs.stream(thread_id=thread.id, agent_id=agent.id, event_handler=first) as stream:
        stream.until_done()
    assert first.statuses[-1] == "requires_action"
    run = agents_client.runs.list(thread_id=thread.id).next()
    [call] = run.required_action.submit_tool_outputs.tool_calls
    second = Recorder()
    agents_client.runs.submit_tool_outputs_stream(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
        event_handler=second,
    )
    second.until_done()
    assert second.statuses[-1] == "completed"
    assert "sunny" in "".join(second.deltas)


def test_paging_past_a_hundred_messages(celery_worker: Worker, agents_client: AgentsClient) -> None:
    from agents_admin.services.threads import message_create, thread_create
    from tests.factories import make_project

    thread = thread_create(project=make_project())
    for i in range(130):
        message_create(thread=thread, role="user", content=f"message {i}")
    ascending = [m.text_messages[0].text.value for m in agents_client.messages.list(
        thread_id=thread.id, order=ListSortOrder.ASCENDING, limit=100
    )]  # fmt: skip
    assert ascending == [f"message {i}" for i in range(130)]
    newest_first = [m.text_messages[0].text.value for m in agents_client.messages.list(thread_id=thread.id, limit=7)]
    assert newest_first == [f"message {i}" for i in reversed(range(130))]
    first_page = agents_client.messages.list(thread_id=thread.id, limit=100).by_page()
    assert len(list(next(first_page))) == 100 and len(list(next(first_page))) == 30


def _status(client: AgentsClient, thread_id: str, run_id: str, status: str) -> Any:
    run = client.runs.get(thread_id=thread_id, run_id=run_id)
    if run.status == status:
        return run
    time.sleep(0.1)
    return None


def test_thread_and_run_streams_over_plain_https(
    celery_worker: Worker, https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str
) -> None:
    """The SDK never streams thread-and-run, but the contract does; any HTTP client can use it."""
    agent = make_agent()
    response = requests.post(
        f"{https_server.url}/api/projects/default/threads/runs?api-version=v1",
        json={"assistant_id": agent.id, "stream": True, "thread": {"messages": [{"role": "user", "content": "hi"}]}},
        headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
        verify=str(dev_cert[0]),
        stream=True,
        timeout=30,
    )
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/event-stream"
    events = [chunk.split("\n") for chunk in response.text.strip("\n").split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names[0] == "thread.created" and names[1] == "thread.run.created"
    assert names[-2:] == ["thread.run.completed", "done"]
    thread = json.loads(events[0][1].removeprefix("data: "))
    assert Message.objects.filter(thread_id=thread["id"], role="assistant").exists()


def test_openapi_and_connected_agent_tools_run_through_the_sdk(
    celery_worker: Worker, agents_client: AgentsClient, weather_api: WeatherApi
) -> None:
    spec = weather_api.spec()
    weather = OpenApiTool(name="weather", description="Forecasts", spec=spec, auth=OpenApiAnonymousAuthDetails())
    forecaster = agents_client.create_agent(model="gpt-4o", name="forecaster", tools=weather.definitions)
    helper = ConnectedAgentTool(id=forecaster.id, name="forecaster", description="Knows the weather")
    boss = agents_client.create_agent(model="gpt-4o", name="boss", tools=helper.definitions)
    thread = agents_client.threads.create()
    task = '/tool weather_getForecast {\\"city\\": \\"Lima\\"}'
    agents_client.messages.create(thread_id=thread.id, role="user", content=f'/tool forecaster {{"input": "{task}"}}')
    run = agents_client.runs.create_and_process(thread_id=thread.id, agent_id=boss.id, polling_interval=0.2)
    assert run.status == "completed", run.last_error
    steps = list(agents_client.run_steps.list(thread_id=thread.id, run_id=run.id, order=ListSortOrder.ASCENDING))
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    [call] = steps[0].step_details.tool_calls
    assert call.type == "connected_agent" and call["connected_agent"]["name"] == "forecaster"
    child_steps = agents_client.run_steps.list(
        thread_id=call["connected_agent"]["thread_id"], run_id=call["connected_agent"]["run_id"]
    )
    assert "openapi" in [c.type for s in child_steps if s.type == "tool_calls" for c in s.step_details.tool_calls]
    reply = agents_client.messages.get_last_message_text_by_role(thread_id=thread.id, role=MessageRole.AGENT)
    assert reply is not None and '"city": "Lima"' in reply.text.value and weather_api.requests
    with pytest.raises(HttpResponseError) as refused:
        agents_client.create_agent(model="gpt-4o", name="ci", tools=[{"type": "code_interpreter"}])
    assert refused.value.status_code == 400 and "code_interpreter" in str(refused.value)


def test_file_search_answers_from_the_pdf_with_a_citation(
    celery_worker: Worker, agents_client: AgentsClient, tmp_path: Path
) -> None:
    (tmp_path / "handbook.pdf").write_bytes(pdf_bytes(HANDBOOK_PDF_LINES))
    (tmp_path / "notes.md").write_text(NOTES_MARKDOWN)
    pdf = agents_client.files.upload_and_poll(file_path=str(tmp_path / "handbook.pdf"), purpose="assistants")
    notes = agents_client.files.upload_and_poll(file_path=str(tmp_path / "notes.md"), purpose="assistants")
    store = agents_client.vector_stores.create_and_poll(
        file_ids=[pdf.id, notes.id], name="handbook", polling_interval=0.2
    )
    assert store.status == "completed" and store.file_counts.completed == 2 and store.usage_bytes > 0
    search = FileSearchTool(vector_store_ids=[store.id])
    agent = agents_client.create_agent(
        model="gpt-4o", name="librarian", tools=search.definitions, tool_resources=search.resources
    )
    thread = agents_client.threads.create()
    agents_client.messages.create(
        thread_id=thread.id, role="user", content="What is the reimbursement limit for hotel stays in Lisbon?"
    )
    run = agents_client.runs.create_and_process(thread_id=thread.id, agent_id=agent.id, polling_interval=0.2)
    assert run.status == "completed", run.last_error
    reply = agents_client.messages.get_last_message_by_role(thread_id=thread.id, role=MessageRole.AGENT)
    assert reply is not None and "185 euros per night" in reply.text_messages[0].text.value
    [citation] = reply.file_citation_annotations
    assert citation.file_citation.file_id == pdf.id and "185 euros" in citation.file_citation.quote
    steps = agents_client.run_steps.list(
        thread_id=thread.id,
        run_id=run.id,
        include=[RunAdditionalFieldList.FILE_SEARCH_CONTENTS],
        order=ListSortOrder.ASCENDING,
    )
    [call] = next(iter(steps)).step_details.tool_calls
    assert call.type == "file_search" and call.file_search.results[0].file_name == "handbook.pdf"
    assert "185 euros" in call.file_search.results[0].content[0].text
    plain = next(iter(agents_client.run_steps.list(thread_id=thread.id, run_id=run.id, order=ListSortOrder.ASCENDING)))
    assert plain.step_details.tool_calls[0].file_search.results[0].content is None
