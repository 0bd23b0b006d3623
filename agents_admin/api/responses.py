"""Responses of the v2 protocol (``/openai/v1/responses``): an agent's turn, run by the run engine.

``POST /responses`` answers when the response has ended (the run engine runs it on a worker meanwhile), or at
once with ``background: true`` (poll ``GET /responses/{id}``), or as server-sent events with ``stream: true``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.http.response import HttpResponseBase

from agents_admin.api.base import Call, ok, opt_bool, opt_dict, opt_int, opt_str
from agents_admin.api.conversations import get_conversation, message_from_item
from agents_admin.api.errors import ApiError, invalid
from agents_admin.api.pagination import page
from agents_admin.api.response_streaming import response_stream
from agents_admin.api.streaming import stream_slot
from agents_admin.api.v2_shapes import FINAL_RESPONSE_STATUSES, RESPONSE_STATUS, invalid_payload, response_json
from agents_admin.lib import run_events
from agents_admin.models import AgentVersion, Response, Run, RunStatus
from agents_admin.selectors.agents import agent_for_name
from agents_admin.services.api_limits import run_create_allow
from agents_admin.services.responses import (
    ResponseInput,
    ResponseRequest,
    response_cancel,
    response_create,
    response_delete,
)

# What the agent decides: a call that names an agent may not override them (the service's 400).
AGENT_OWNED = ("tools", "tool_choice", "text", "instructions")


def get_response(call: Call, response_id: str) -> Response:
    response = Response.objects.filter(project=call.project, pk=response_id).select_related("run").first()
    if response is None:
        raise ApiError(404, "not_found", f"No response found with id '{response_id}'.", param="response_id")
    return response


def _agent_reference(call: Call) -> tuple[str, str | None]:
    """``agent_reference`` (or the 2.0 betas' ``agent``): ``{"name", "version"?, "type": "agent_reference"}``."""
    key = "agent_reference" if "agent_reference" in call.body else "agent"
    reference = call.body.get(key)
    if isinstance(reference, str):
        reference = {"name": reference}
    if not isinstance(reference, dict) or not isinstance(reference.get("name"), str) or not reference["name"]:
        raise invalid_payload(
            'agent_reference is required: {"type": "agent_reference", "name": …, "version": …}.',
            param="agent_reference",
        )
    version = reference.get("version")
    if version is not None and not isinstance(version, str | int):
        raise invalid_payload("agent_reference.version must be a string.", param="agent_reference.version")
    return reference["name"], (str(version) if version not in (None, "") else None)


def _input(call: Call) -> ResponseInput:
    raw = call.body.get("input", "")
    parsed = ResponseInput()
    if isinstance(raw, str):
        if raw.strip():
            parsed.messages.append({"role": "user", "content": raw})
            parsed.items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": raw}]})
        return parsed
    if not isinstance(raw, list):
        raise invalid("input must be a string or a list of items.", param="input")
    for index, item in enumerate(raw):
        where = f"input[{index}]"
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str) or not call_id:
                raise invalid("A function_call_output needs its call_id.", param=f"{where}.call_id")
            if call_id in parsed.outputs:
                raise invalid(f"call_id '{call_id}' has two outputs.", param=f"{where}.call_id")
            text = output if isinstance(output, str) else json.dumps(output)
            parsed.outputs[call_id] = text
            parsed.items.append({"type": "function_call_output", "call_id": call_id, "output": text})
        elif kind in ("function_call", "reasoning"):
            # The model's own items, sent back by clients that keep the history themselves: already stored.
            continue
        else:
            message = message_from_item(call, item, param=where)
            parsed.messages.append(message)
            content = message["content"]
            parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else item.get("content")
            parsed.items.append({"type": "message", "role": message["role"], "content": parts})
    return parsed


def _conversation_id(call: Call) -> str | None:
    conversation = call.body.get("conversation")
    if conversation is None:
        return None
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    if not isinstance(conversation, str) or not conversation:
        raise invalid('conversation is a conversation id or {"id": …}.', param="conversation")
    return conversation


def create(call: Call) -> HttpResponseBase:
    """Create a response of an agent (``stream``, ``background``)."""
    for key in AGENT_OWNED:
        if call.body.get(key) is not None:
            raise invalid_payload("Not allowed when agent is specified.", param=key)
    name, version_number = _agent_reference(call)
    agent = agent_for_name(project=call.project, name=name)
    if agent is None:
        raise ApiError(404, "not_found", f"No agent named '{name}'.", param="agent_reference.name")
    version = None
    if version_number is not None:
        version = AgentVersion.objects.filter(
            agent=agent, version=int(version_number) if version_number.isdigit() else -1
        ).first()
        if version is None:
            raise ApiError(
                404, "not_found", f"Agent '{name}' has no version '{version_number}'.", param="agent_reference.version"
            )
    conversation_id = _conversation_id(call)
    previous_id = opt_str(call.body, "previous_response_id")
    if conversation_id and previous_id:
        raise invalid("Use either conversation or previous_response_id, not both.", param="previous_response_id")
    thread = get_conversation(call, conversation_id, param="conversation") if conversation_id else None
    previous = get_response(call, previous_id) if previous_id else None
    if opt_bool(call.body, "store") is False:
        raise invalid("store=false is not offered: every response is kept as a run of its conversation.", param="store")
    stream = bool(opt_bool(call.body, "stream"))
    background = bool(opt_bool(call.body, "background"))
    max_output_tokens = opt_int(call.body, "max_output_tokens")
    if max_output_tokens is not None and max_output_tokens < 1:
        raise invalid("max_output_tokens must be a positive integer.", param="max_output_tokens")
    request = ResponseRequest(
        project=call.project,
        agent=agent,
        agent_name=name,
        version=version,
        thread=thread if thread is not None else (previous.thread if previous is not None else None),
        previous=previous,
        in_conversation=thread is not None or (previous is not None and previous.in_conversation),
        input=_input(call),
        background=background,
        metadata=opt_dict(call.body, "metadata"),
        max_output_tokens=max_output_tokens,
        temperature=call.body.get("temperature"),
        top_p=call.body.get("top_p"),
    )
    run_create_allow(api_key_id=call.api_key.pk)
    if stream:
        with stream_slot(call) as slot:
            response = response_create(request=request, actor_label=call.actor_label)
        return response_stream(response, slot=slot)
    response = response_create(request=request, actor_label=call.actor_label)
    if not background:
        _wait(response.run_id)
    return ok(response_json(response, Run.objects.get(pk=response.run_id)))


def _wait(run_id: str) -> None:
    """Until the run has ended as a response ends (a response that calls functions ends with the calls): woken by
    the run's notices (lib/run_events.py), polling only while their server cannot be reached."""
    deadline = time.monotonic() + settings.RUN_EXPIRY_SECONDS + 60
    with run_events.subscription(settings.RUN_EVENTS_URL, run_id) as notice:
        while time.monotonic() < deadline:
            status = Run.objects.values_list("status", flat=True).get(pk=run_id)
            if RESPONSE_STATUS.get(RunStatus(status)) in FINAL_RESPONSE_STATUSES:
                return
            if notice is None:
                time.sleep(settings.STREAM_POLL_SECONDS)
            else:
                notice(settings.STREAM_IDLE_SECONDS)


def retrieve(call: Call, response_id: str) -> HttpResponseBase:
    """Get a response (``stream=true`` streams it, after ``starting_after`` when given)."""
    response = get_response(call, response_id)
    if call.query.get("stream") in ("true", "True", "1"):
        raw = call.query.get("starting_after") or "-1"
        try:
            starting_after = int(raw)
        except ValueError:
            raise invalid("starting_after must be an event's sequence_number.", param="starting_after") from None
        with stream_slot(call) as slot:
            return response_stream(response, starting_after=starting_after, slot=slot)
    return ok(response_json(response, response.run))


def delete(call: Call, response_id: str) -> HttpResponseBase:
    """Delete a response (its conversation keeps its items)."""
    response_delete(response=get_response(call, response_id), actor_label=call.actor_label)
    return ok({"id": response_id, "object": "response", "deleted": True})


def cancel(call: Call, response_id: str) -> HttpResponseBase:
    """Cancel a background response."""
    response = response_cancel(response=get_response(call, response_id), actor_label=call.actor_label)
    return ok(response_json(response, Run.objects.get(pk=response.run_id)))


def input_items(call: Call, response_id: str) -> HttpResponseBase:
    """List the items a response was given (newest first unless ``order=asc``)."""
    response = get_response(call, response_id)
    items: list[dict[str, Any]] = list(response.input_items or [])
    order = call.query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise invalid("order must be 'asc' or 'desc'.", param="order")
    if order == "desc":
        items.reverse()
    after = call.query.get("after")
    if after:
        positions = [i for i, item in enumerate(items) if item.get("id") == after]
        if not positions:
            raise invalid(f"No item with id '{after}' in this list.", param="after")
        items = items[positions[0] + 1 :]
    raw_limit = call.query.get("limit") or "20"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise invalid("limit must be an integer between 1 and 100.", param="limit")
    page, rest = items[: int(raw_limit)], items[int(raw_limit) :]
    return ok(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": bool(rest),
        }
    )


def list_(call: Call) -> HttpResponseBase:
    """List the project's responses (Foundry): ``conversation_id``, ``agent_name``, ``agent_id`` (name:version)."""
    responses = Response.objects.filter(project=call.project).select_related("run")
    conversation_id = call.query.get("conversation_id")
    if conversation_id:
        responses = responses.filter(thread_id=conversation_id)
    agent_name, agent_id = call.query.get("agent_name"), call.query.get("agent_id")
    if agent_id:
        name, _, number = agent_id.rpartition(":")
        if not name or not number.isdigit() or (agent_name and agent_name != name):
            raise invalid("agent_id is 'name:version' of the agent_name given.", param="agent_id")
        agent_name = name
        responses = responses.filter(run__agent_version=int(number))
    if agent_name:
        agent = agent_for_name(project=call.project, name=agent_name)
        responses = responses.filter(run__agent=agent) if agent is not None else responses.none()
    return ok(page(responses, call.query, lambda r: response_json(r, r.run)))
