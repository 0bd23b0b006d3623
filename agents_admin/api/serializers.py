"""Rows -> the wire objects of the Foundry Agents contract (section 4 of the reference).

Every documented key is present (null when unknown); timestamps are integer Unix seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agents_admin.models import Agent, File, Message, Run, RunStep, Thread


def ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "object": "assistant",
        "created_at": ts(agent.created_at),
        "name": agent.name or None,
        "description": agent.description or None,
        "model": agent.model,
        "instructions": agent.instructions or None,
        "tools": agent.tools or [],
        "tool_resources": agent.tool_resources or {},
        "temperature": agent.temperature if agent.temperature is not None else 1.0,
        "top_p": agent.top_p if agent.top_p is not None else 1.0,
        "response_format": agent.response_format if agent.response_format is not None else "auto",
        "metadata": agent.metadata or {},
    }


def thread_json(thread: Thread) -> dict[str, Any]:
    return {
        "id": thread.id,
        "object": "thread",
        "created_at": ts(thread.created_at),
        "tool_resources": thread.tool_resources or {},
        "metadata": thread.metadata or {},
    }


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "object": "thread.message",
        "created_at": ts(message.created_at),
        "thread_id": message.thread_id,
        "status": message.status,
        "incomplete_details": message.incomplete_details,
        "completed_at": ts(message.completed_at),
        "incomplete_at": None,
        "role": message.role,
        "content": message.content,
        "assistant_id": message.agent_id,
        "run_id": message.run_id,
        "attachments": message.attachments or [],
        "metadata": message.metadata or {},
    }


def run_json(run: Run) -> dict[str, Any]:
    usage = None
    if run.is_terminal and run.total_tokens is not None:
        usage = {
            "prompt_tokens": run.prompt_tokens or 0,
            "completion_tokens": run.completion_tokens or 0,
            "total_tokens": run.total_tokens,
        }
    return {
        "id": run.id,
        "object": "thread.run",
        "thread_id": run.thread_id,
        "assistant_id": run.agent_ref,
        "status": run.status,
        "required_action": run.required_action,
        "last_error": run.last_error,
        "model": run.model,
        "instructions": run.instructions,
        "tools": run.tools or [],
        "created_at": ts(run.created_at),
        "expires_at": None if run.is_terminal else ts(run.expires_at),
        "started_at": ts(run.started_at),
        "completed_at": ts(run.completed_at),
        "cancelled_at": ts(run.cancelled_at),
        "failed_at": ts(run.failed_at),
        "incomplete_details": run.incomplete_details,
        "usage": usage,
        "temperature": run.temperature if run.temperature is not None else 1.0,
        "top_p": run.top_p if run.top_p is not None else 1.0,
        "max_prompt_tokens": run.max_prompt_tokens,
        "max_completion_tokens": run.max_completion_tokens,
        "truncation_strategy": run.truncation_strategy or {"type": "auto", "last_messages": None},
        "tool_choice": run.tool_choice if run.tool_choice is not None else "auto",
        "response_format": run.response_format if run.response_format is not None else "auto",
        "metadata": run.metadata or {},
        "tool_resources": {},
        "parallel_tool_calls": run.parallel_tool_calls,
    }


FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
# Kept on a file search entry for the engine (the model's query, the citation numbering), not part of the wire.
_FILE_SEARCH_PRIVATE = ("name", "arguments", "search", "vector_store_ids")


def step_details_json(details: dict[str, Any], *, include_content: bool) -> dict[str, Any]:
    """A step's details as the service sends them: file search results without their text unless asked for."""
    calls = details.get("tool_calls") if isinstance(details, dict) else None
    if not calls or not any(c.get("type") == "file_search" for c in calls):
        return details
    wire = []
    for call in calls:
        if call.get("type") == "file_search":
            body = {k: v for k, v in (call.get("file_search") or {}).items() if k not in _FILE_SEARCH_PRIVATE}
            body["results"] = [
                r if include_content else {k: v for k, v in r.items() if k != "content"}
                for r in body.get("results") or []
            ]
            call = {**call, "file_search": body}
        wire.append(call)
    return {**details, "tool_calls": wire}


def step_json(step: RunStep, *, assistant_id: str, include_content: bool = False) -> dict[str, Any]:
    usage = None
    if step.status != RunStep.Status.IN_PROGRESS and step.prompt_tokens is not None:
        completion = step.completion_tokens or 0
        usage = {
            "prompt_tokens": step.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": step.prompt_tokens + completion,
        }
    return {
        "id": step.id,
        "object": "thread.run.step",
        "type": step.type,
        "assistant_id": assistant_id,
        "thread_id": step.thread_id,
        "run_id": step.run_id,
        "status": step.status,
        "step_details": step_details_json(step.step_details, include_content=include_content),
        "last_error": step.last_error,
        "created_at": ts(step.created_at),
        "expired_at": ts(step.expired_at),
        "completed_at": ts(step.completed_at),
        "cancelled_at": ts(step.cancelled_at),
        "failed_at": ts(step.failed_at),
        "usage": usage,
        "metadata": {},
    }


def step_delta_json(step: RunStep) -> dict[str, Any]:
    """A tool-call step's calls as one ``thread.run.step.delta``: each call whole (its arguments in one piece),
    ``output`` null until outputs are submitted."""
    calls = []
    for index, call in enumerate(step.tool_calls):
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        calls.append(
            {
                "index": index,
                "id": call.get("id"),
                "type": call.get("type", "function"),
                "function": {
                    "name": function.get("name"),
                    "arguments": function.get("arguments") or "",
                    "output": function.get("output"),
                },
            }
        )
    return {
        "id": step.id,
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": calls}},
    }


def file_json(file: File) -> dict[str, Any]:
    return {
        "object": "file",
        "id": file.id,
        "bytes": file.bytes,
        "filename": file.filename,
        "created_at": ts(file.created_at),
        "purpose": file.purpose,
        "status": "processed",
        "status_details": None,
    }


def deleted_json(object_id: str, kind: str) -> dict[str, Any]:
    return {"id": object_id, "object": kind, "deleted": True}
