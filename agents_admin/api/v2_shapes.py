"""Rows -> the wire objects of the v2 protocol (agents with versions, conversations and their items), and the
v2 shapes of an agent's definition <-> the fields an agent keeps.

One store serves both protocols, so these are projections: an agent version is an ``AgentVersion`` row, a
conversation is a thread and a message item is a message.
"""

from __future__ import annotations

from typing import Any

from agents_admin.api.errors import ApiError
from agents_admin.api.serializers import ts
from agents_admin.lib.v2_definitions import text_from_response_format, tools_to_v2
from agents_admin.models import Agent, AgentVersion, Message, Response, Run, RunStatus, RunStep, Thread
from agents_admin.selectors.conversations import ConversationItem

# What a prompt agent's definition may carry, beyond ``kind``.
DEFINITION_KEYS = ("model", "instructions", "tools", "temperature", "top_p", "tool_choice", "text")


def invalid_payload(message: str, *, param: str) -> ApiError:
    """The service's 400 for a body it will not take (``invalid_payload``)."""
    return ApiError(400, "invalid_payload", message, param=param)


# --- definitions -----------------------------------------------------------------------------------------------


def definition_json(definition: dict[str, Any]) -> dict[str, Any]:
    """A version's stored definition (agent fields) in the v2 shape of a prompt agent."""
    shaped: dict[str, Any] = {
        "kind": "prompt",
        "model": definition.get("model", ""),
        "instructions": definition.get("instructions") or None,
        "tools": tools_to_v2(definition.get("tools")),
        "text": text_from_response_format(definition.get("response_format")),
    }
    for key in ("temperature", "top_p", "tool_choice"):
        if definition.get(key) is not None:
            shaped[key] = definition[key]
    return shaped


# --- agents ----------------------------------------------------------------------------------------------------


def agent_version_json(agent: Agent, version: AgentVersion) -> dict[str, Any]:
    definition = version.definition if isinstance(version.definition, dict) else {}
    return {
        "object": "agent.version",
        "id": f"{agent.v2_name}:{version.version}",
        "name": agent.v2_name,
        "version": str(version.version),
        "description": definition.get("description") or "",
        "created_at": ts(version.created_at),
        "definition": definition_json(definition),
        "metadata": definition.get("metadata") or {},
        "status": "active",
        "agent_guid": agent.id,
    }


def agent_json(agent: Agent, latest: AgentVersion | None) -> dict[str, Any]:
    if latest is None:  # an agent always has a version; this covers rows made before versions were kept
        latest = AgentVersion(agent=agent, version=agent.version, definition=agent.snapshot())
        latest.created_at = agent.updated_at
    return {
        "object": "agent",
        "id": agent.v2_name,
        "name": agent.v2_name,
        "state": "enabled",
        "versions": {"latest": agent_version_json(agent, latest)},
    }


def agents_json(agents: list[Agent]) -> list[dict[str, Any]]:
    """A page of agents with their latest versions, in one read of the versions."""
    if not agents:
        return []
    wanted = {(a.pk, a.version) for a in agents}
    rows = AgentVersion.objects.filter(agent__in=agents, version__in={v for _, v in wanted})
    latest = {(r.agent_id, r.version): r for r in rows if (r.agent_id, r.version) in wanted}
    return [agent_json(a, latest.get((a.pk, a.version))) for a in agents]


# --- conversations and items -----------------------------------------------------------------------------------


def conversation_json(thread: Thread) -> dict[str, Any]:
    return {"id": thread.id, "object": "conversation", "created_at": ts(thread.created_at), "metadata": thread.metadata}


def content_json(message: Message) -> list[dict[str, Any]]:
    """A message's parts as Responses content: a user's text is ``input_text``, an assistant's ``output_text``."""
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = part.get("text")
            value = text.get("value", "") if isinstance(text, dict) else str(text or "")
            if message.role == Message.Role.ASSISTANT:
                annotations = text.get("annotations", []) if isinstance(text, dict) else []
                parts.append({"type": "output_text", "text": value, "annotations": annotations})
            else:
                parts.append({"type": "input_text", "text": value})
        elif kind == "image_file":
            parts.append({"type": "input_image", "file_id": part["image_file"].get("file_id"), "detail": "auto"})
        elif kind == "image_url":
            parts.append({"type": "input_image", "image_url": part["image_url"].get("url"), "detail": "auto"})
    if not parts and message.text:
        kind = "output_text" if message.role == Message.Role.ASSISTANT else "input_text"
        parts.append({"type": kind, "text": message.text, **({"annotations": []} if kind == "output_text" else {})})
    return parts


def message_item_json(message: Message) -> dict[str, Any]:
    """A message item, with Foundry's ``response_id`` and ``agent_reference`` on a response's answer (read with
    ``select_related("run__response")``; a classic run's answer names its agent by id)."""
    item: dict[str, Any] = {
        "type": "message",
        "id": message.id,
        "role": message.role,
        "status": message.status,
        "content": content_json(message),
        "created_at": ts(message.created_at),
    }
    run = message.run if message.run_id else None
    if run is not None:
        try:
            response: Response | None = run.response
        except Response.DoesNotExist:
            response = None
        name = response.agent_name if response is not None else run.agent_ref
        item["response_id"] = response.id if response is not None else None
        item["agent_reference"] = {"type": "agent_reference", "name": name, "version": str(run.agent_version)}
    return item


# --- responses -------------------------------------------------------------------------------------------------

# A run's status as a response's: a response that asks for function calls has ended (the caller answers with a
# new response), and one being cancelled is still in progress until the worker lets go.
RESPONSE_STATUS = {
    RunStatus.QUEUED: "queued",
    RunStatus.IN_PROGRESS: "in_progress",
    RunStatus.CANCELLING: "in_progress",
    RunStatus.REQUIRES_ACTION: "completed",
    RunStatus.COMPLETED: "completed",
    RunStatus.INCOMPLETE: "incomplete",
    RunStatus.FAILED: "failed",
    RunStatus.EXPIRED: "failed",
    RunStatus.CANCELLED: "cancelled",
}
FINAL_RESPONSE_STATUSES = ("completed", "incomplete", "failed", "cancelled")


def function_call_items(run: Run) -> list[dict[str, Any]]:
    """The run's function calls as ``function_call`` output items (ids derived from the call ids, so stable)."""
    steps = RunStep.objects.filter(run=run, type=RunStep.Type.TOOL_CALLS).order_by("created_at", "id")
    return [function_call_json(call) for step in steps for call in step.tool_calls]


def function_call_json(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "type": "function_call",
        "id": f"fc_{call.get('id', '')}",
        "call_id": call.get("id"),
        "name": function.get("name"),
        "arguments": function.get("arguments") or "",
        "status": "completed",
    }


def conversation_item_json(item: ConversationItem) -> dict[str, Any]:
    """A conversation's item: a message, a response's function call, or a function output it was given."""
    if item.message is not None:
        return message_item_json(item.message)
    if item.call is not None:
        return function_call_json(item.call)
    output = item.output or {}
    return {
        "type": "function_call_output",
        "id": item.id,
        "call_id": output.get("call_id"),
        "output": output.get("output"),
        "status": "completed",
    }


def output_message_json(message: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "id": message.id,
        "role": "assistant",
        "status": message.status,
        "content": content_json(message),
    }


def response_messages(run: Run) -> list[Message]:
    return list(Message.objects.filter(run=run, role=Message.Role.ASSISTANT).order_by("seq"))


def response_json(
    response: Response, run: Run, *, calls: list[dict[str, Any]] | None = None, messages: list[Message] | None = None
) -> dict[str, Any]:
    """The response object. ``calls``/``messages`` are the run's output when the caller has read them already."""
    status = RESPONSE_STATUS.get(RunStatus(run.status), "in_progress")
    calls = function_call_items(run) if calls is None else calls
    messages = response_messages(run) if messages is None else messages
    usage = None
    if status in FINAL_RESPONSE_STATUSES and run.total_tokens is not None:
        usage = {
            "input_tokens": run.prompt_tokens or 0,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": run.completion_tokens or 0,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": run.total_tokens,
        }
    error = None
    if status == "failed":
        last = run.last_error if isinstance(run.last_error, dict) else {}
        if run.status == RunStatus.EXPIRED:
            last = {"code": "expired", "message": "The response did not finish in time."}
        error = {"code": last.get("code") or "server_error", "message": last.get("message") or "The response failed."}
    return {
        "id": response.id,
        "object": "response",
        "created_at": ts(response.created_at),
        "status": status,
        "background": response.background,
        "completed_at": ts(run.completed_at) if status == "completed" else None,
        "error": error,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": run.instructions or None,
        "max_output_tokens": run.max_completion_tokens,
        "model": run.model,
        "output": calls + [output_message_json(m) for m in messages],
        "parallel_tool_calls": run.parallel_tool_calls,
        "previous_response_id": response.previous_response_id,
        "conversation": {"id": response.thread_id} if response.in_conversation else None,
        "agent_reference": {
            "type": "agent_reference",
            "name": response.agent_name,
            "version": response.agent_version or str(run.agent_version),
        },
        "store": True,
        "temperature": run.temperature if run.temperature is not None else 1.0,
        "top_p": run.top_p if run.top_p is not None else 1.0,
        "text": text_from_response_format(run.response_format),
        "tool_choice": run.tool_choice if run.tool_choice is not None else "auto",
        "tools": tools_to_v2(run.tools),
        "truncation": "disabled",
        "usage": usage,
        "metadata": response.metadata or {},
        "user": None,
    }
