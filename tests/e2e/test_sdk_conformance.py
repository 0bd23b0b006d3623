"""Every public operation of the official SDK client, found by introspection, called against the live server.

A new SDK operation that this table does not call fails the test, and so does one that errors; docs/api.md's
conformance table must list the same operations with their status.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.ai.agents import AgentsClient
from azure.ai.agents.models import (
    AgentEventHandler,
    AgentThreadCreationOptions,
    FunctionTool,
    MessageRole,
    ThreadMessageOptions,
    ToolSet,
)

from tests.conftest import Worker
from tests.documents import HANDBOOK_PDF_LINES, pdf_bytes

pytestmark = pytest.mark.worker
pytest_plugins = ["tests.api_support"]

# Client methods that are not service operations: local plumbing.
NOT_OPERATIONS = {"close", "send_request", "enable_auto_function_calls"}
DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def sdk_operations(client: AgentsClient) -> list[str]:
    """``name`` for the client's own operations and ``group.name`` for each operations group's."""
    found = []
    for name in dir(client):
        if name.startswith("_"):
            continue
        value = getattr(client, name)
        if type(value).__name__.endswith("Operations"):
            found += [f"{name}.{m}" for m in dir(value) if not m.startswith("_") and callable(getattr(value, m))]
        elif callable(value) and name not in NOT_OPERATIONS:
            found.append(name)
    return sorted(found)


def get_weather(city: str) -> str:
    """Current weather for a city.

    :param city: The city name.
    :return: The weather as JSON.
    """
    return json.dumps({"city": city, "temp_c": 21})


class Quiet(AgentEventHandler):
    pass


def calls(c: AgentsClient, tmp: Path) -> list[tuple[str, Callable[[dict[str, Any]], Any]]]:
    """Each operation with a call that exercises it, in an order where each finds what it needs in ``s``."""
    pdf = tmp / "handbook.pdf"
    pdf.write_bytes(pdf_bytes(HANDBOOK_PDF_LINES))
    toolset = ToolSet()
    toolset.add(FunctionTool({get_weather}))
    c.enable_auto_function_calls(toolset)

    def ask(s: dict[str, Any], text: str) -> None:
        c.messages.create(thread_id=s["thread"].id, role="user", content=text)

    return [
        ("create_agent", lambda s: s.update(agent=c.create_agent(model="gpt-4o", name="conf", toolset=toolset))),
        ("get_agent", lambda s: c.get_agent(s["agent"].id)),
        ("update_agent", lambda s: c.update_agent(s["agent"].id, instructions="Be brief.")),
        ("list_agents", lambda s: list(c.list_agents(limit=1))),
        ("threads.create", lambda s: s.update(thread=c.threads.create(metadata={"a": "b"}))),
        ("threads.get", lambda s: c.threads.get(s["thread"].id)),
        ("threads.update", lambda s: c.threads.update(s["thread"].id, metadata={"a": "c"})),
        ("threads.list", lambda s: list(c.threads.list(limit=1))),
        ("messages.create", lambda s: s.update(message=c.messages.create(thread_id=s["thread"].id, role="user",
                                                                           content="Hello"))),
        ("messages.get", lambda s: c.messages.get(thread_id=s["thread"].id, message_id=s["message"].id)),
        ("messages.update", lambda s: c.messages.update(thread_id=s["thread"].id, message_id=s["message"].id,
                                                        metadata={"x": "y"})),
        ("messages.list", lambda s: list(c.messages.list(thread_id=s["thread"].id))),
        ("runs.create_and_process", lambda s: s.update(run=c.runs.create_and_process(
            thread_id=s["thread"].id, agent_id=s["agent"].id, polling_interval=0.2))),
        ("messages.get_last_message_by_role", lambda s: c.messages.get_last_message_by_role(
            thread_id=s["thread"].id, role=MessageRole.AGENT)),
        ("messages.get_last_message_text_by_role", lambda s: c.messages.get_last_message_text_by_role(
            thread_id=s["thread"].id, role=MessageRole.AGENT)),
        ("runs.get", lambda s: c.runs.get(thread_id=s["thread"].id, run_id=s["run"].id)),
        ("runs.update", lambda s: c.runs.update(thread_id=s["thread"].id, run_id=s["run"].id, metadata={"k": "v"})),
        ("runs.list", lambda s: list(c.runs.list(thread_id=s["thread"].id))),
        ("run_steps.list", lambda s: s.update(steps=list(c.run_steps.list(thread_id=s["thread"].id,
                                                                          run_id=s["run"].id)))),
        ("run_steps.get", lambda s: c.run_steps.get(thread_id=s["thread"].id, run_id=s["run"].id,
                                                    step_id=s["steps"][0].id)),
        ("runs.create", lambda s: (ask(s, '/tool get_weather {"city": "Oslo"}'), s.update(
            run=c.runs.create(thread_id=s["thread"].id, agent_id=s["agent"].id)))),
        ("runs.submit_tool_outputs", lambda s: c.runs.submit_tool_outputs(
            thread_id=s["thread"].id, run_id=s["run"].id, tool_outputs=_outputs(c, s))),
        ("runs.stream", lambda s: (_wait_done(c, s), ask(s, '/tool get_weather {"city": "Rome"}'),
                                   _drain(c.runs.stream(thread_id=s["thread"].id, agent_id=s["agent"].id,
                                                        event_handler=Quiet())))),
        ("runs.submit_tool_outputs_stream", lambda s: _submit_stream(c, s)),
        ("runs.cancel", lambda s: (_wait_done(c, s), ask(s, "/slow take your time"), c.runs.cancel(
            thread_id=s["thread"].id, run_id=c.runs.create(thread_id=s["thread"].id, agent_id=s["agent"].id).id))),
        ("create_thread_and_run", lambda s: c.create_thread_and_run(agent_id=s["agent"].id, thread=(
            AgentThreadCreationOptions(messages=[ThreadMessageOptions(role="user", content="hi")])))),
        ("create_thread_and_process_run", lambda s: c.create_thread_and_process_run(
            agent_id=s["agent"].id, polling_interval=0.2,
            thread=AgentThreadCreationOptions(messages=[ThreadMessageOptions(role="user", content="hi")]))),
        ("files.upload", lambda s: s.update(file=c.files.upload(file_path=str(pdf), purpose="assistants"))),
        ("files.upload_and_poll", lambda s: s.update(file2=c.files.upload_and_poll(file_path=str(pdf),
                                                                                   purpose="assistants"))),
        ("files.get", lambda s: c.files.get(s["file"].id)),
        ("files.list", lambda s: c.files.list()),
        ("files.get_content", lambda s: b"".join(c.files.get_content(s["file"].id))),
        ("files.save", lambda s: c.files.save(file_id=s["file"].id, file_name="copy.pdf", target_dir=str(tmp))),
        ("vector_stores.create", lambda s: s.update(store=c.vector_stores.create(name="empty"))),
        ("vector_stores.create_and_poll", lambda s: s.update(store=c.vector_stores.create_and_poll(
            file_ids=[s["file"].id], name="docs", polling_interval=0.2))),
        ("vector_stores.get", lambda s: c.vector_stores.get(s["store"].id)),
        ("vector_stores.modify", lambda s: c.vector_stores.modify(s["store"].id, name="docs2")),
        ("vector_stores.list", lambda s: list(c.vector_stores.list())),
        ("vector_store_files.create", lambda s: c.vector_store_files.create(vector_store_id=s["store"].id,
                                                                             file_id=s["file2"].id)),
        ("vector_store_files.create_and_poll", lambda s: c.vector_store_files.create_and_poll(
            vector_store_id=s["store"].id, file_id=s["file2"].id, polling_interval=0.2)),
        ("vector_store_files.get", lambda s: c.vector_store_files.get(vector_store_id=s["store"].id,
                                                                       file_id=s["file"].id)),
        ("vector_store_files.list", lambda s: list(c.vector_store_files.list(vector_store_id=s["store"].id))),
        ("vector_store_file_batches.create", lambda s: s.update(batch=c.vector_store_file_batches.create(
            vector_store_id=s["store"].id, file_ids=[s["file2"].id]))),
        ("vector_store_file_batches.get", lambda s: c.vector_store_file_batches.get(
            vector_store_id=s["store"].id, batch_id=s["batch"].id)),
        ("vector_store_file_batches.list_files", lambda s: list(c.vector_store_file_batches.list_files(
            vector_store_id=s["store"].id, batch_id=s["batch"].id))),
        ("vector_store_file_batches.cancel", lambda s: c.vector_store_file_batches.cancel(
            vector_store_id=s["store"].id, batch_id=s["batch"].id)),
        ("vector_store_file_batches.create_and_poll", lambda s: c.vector_store_file_batches.create_and_poll(
            vector_store_id=s["store"].id, file_ids=[s["file2"].id], polling_interval=0.2)),
        ("vector_store_files.delete", lambda s: c.vector_store_files.delete(vector_store_id=s["store"].id,
                                                                             file_id=s["file2"].id)),
        ("vector_stores.delete", lambda s: c.vector_stores.delete(s["store"].id)),
        ("files.delete", lambda s: c.files.delete(s["file2"].id)),
        ("threads.delete", lambda s: (_wait_done(c, s), c.threads.delete(s["thread"].id))),
        ("delete_agent", lambda s: c.delete_agent(s["agent"].id)),
    ]  # fmt: skip


def _outputs(c: AgentsClient, s: dict[str, Any]) -> list[dict[str, str]]:
    run = _wait_for(c, s, {"requires_action"})
    return [{"tool_call_id": t.id, "output": "21C"} for t in run.required_action.submit_tool_outputs.tool_calls]


def _wait_for(c: AgentsClient, s: dict[str, Any], statuses: set[str]) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = c.runs.get(thread_id=s["thread"].id, run_id=s["run"].id)
        if run.status in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run stayed {run.status}")


def _wait_done(c: AgentsClient, s: dict[str, Any]) -> None:
    s["run"] = list(c.runs.list(thread_id=s["thread"].id, limit=1))[0]
    _wait_for(c, s, {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"})
    run = c.runs.get(thread_id=s["thread"].id, run_id=s["run"].id)
    if run.status == "requires_action":
        c.runs.cancel(thread_id=s["thread"].id, run_id=run.id)


def _drain(stream: Any) -> None:
    with stream as events:
        for _ in events:
            pass


def _submit_stream(c: AgentsClient, s: dict[str, Any]) -> None:
    _wait_done(c, s)
    c.messages.create(thread_id=s["thread"].id, role="user", content='/tool get_weather {"city": "Lima"}')
    s["run"] = c.runs.create(thread_id=s["thread"].id, agent_id=s["agent"].id)
    handler = Quiet()
    c.runs.submit_tool_outputs_stream(
        thread_id=s["thread"].id, run_id=s["run"].id, tool_outputs=_outputs(c, s), event_handler=handler
    )
    for _ in handler:
        pass


def documented_statuses() -> dict[str, str]:
    table = DOC.read_text().split("## Conformance", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([a-z_.]+)` \| ([^|]+?) \|", table, re.MULTILINE))


def test_every_sdk_operation_works_and_is_documented(
    celery_worker: Worker, agents_client: AgentsClient, tmp_path: Path
) -> None:
    planned = calls(agents_client, tmp_path)
    assert sorted(name for name, _ in planned) == sdk_operations(agents_client)
    state: dict[str, Any] = {}
    failures = {}
    for name, call in planned:
        try:
            call(state)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, with its operation
            failures[name] = f"{type(exc).__name__}: {exc}"[:300]
    assert failures == {}
    assert documented_statuses() == dict.fromkeys(sdk_operations(agents_client), "works")
