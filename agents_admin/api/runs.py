"""Runs, run steps, and thread-and-run. ``"stream": true`` answers with server-sent events (streaming.py)."""

from __future__ import annotations

import contextlib
from typing import Any

from django.db import transaction
from django.http.response import HttpResponseBase

from agents_admin.api.assistants import get_agent
from agents_admin.api.base import Call, ok, opt_bool, opt_dict, opt_int, opt_list, opt_str, req_str
from agents_admin.api.errors import invalid, not_found
from agents_admin.api.pagination import page
from agents_admin.api.serializers import FILE_SEARCH_CONTENT, run_json, step_json
from agents_admin.api.streaming import event_stream, stream_slot
from agents_admin.api.threads import check_messages, get_thread, thread_from_body
from agents_admin.models import Run, RunStep
from agents_admin.services.api_limits import run_create_allow
from agents_admin.services.runs import run_cancel, run_create, run_submit_tool_outputs, run_update
from agents_admin.services.stores import RunOptions

_TOOL_CHOICE_WORDS = ("none", "auto", "required")


def get_run(call: Call, thread_id: str, run_id: str) -> Run:
    thread = get_thread(call, thread_id)
    run = Run.objects.filter(thread=thread, pk=run_id).first()
    if run is None:
        raise not_found("run", run_id)
    return run


def _options(body: dict[str, Any], **extra: Any) -> RunOptions:
    """CreateRun fields in the service's terms; type errors name the field. Unknown keys are ignored."""
    tool_choice = body.get("tool_choice")
    if tool_choice is not None and tool_choice not in _TOOL_CHOICE_WORDS and not isinstance(tool_choice, dict):
        raise invalid("tool_choice must be 'none', 'auto' or a tool object.", param="tool_choice")
    return RunOptions(
        model=opt_str(body, "model"),
        instructions=opt_str(body, "instructions"),
        tools=opt_list(body, "tools"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_prompt_tokens=opt_int(body, "max_prompt_tokens"),
        max_completion_tokens=opt_int(body, "max_completion_tokens"),
        truncation_strategy=opt_dict(body, "truncation_strategy"),
        tool_choice=tool_choice,
        response_format=body.get("response_format"),
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls"),
        metadata=body.get("metadata"),
        **extra,
    )


def create(call: Call, thread_id: str) -> HttpResponseBase:
    """Create a run (or stream it with ``"stream": true``)."""
    thread = get_thread(call, thread_id)
    agent = get_agent(call, req_str(call.body, "assistant_id"))
    stream = opt_bool(call.body, "stream")
    additional = opt_list(call.body, "additional_messages")
    check_messages(call.project, additional, param="additional_messages")
    options = _options(
        call.body, additional_instructions=opt_str(call.body, "additional_instructions"), additional_messages=additional
    )
    run_create_allow(api_key_id=call.api_key.pk)
    if stream:
        with stream_slot(call) as slot:
            run = run_create(thread=thread, agent=agent, actor_label=call.actor_label, options=options)
        return event_stream(run.id, slot=slot)
    run = run_create(thread=thread, agent=agent, actor_label=call.actor_label, options=options)
    return ok(run_json(run))


def create_thread_and_run(call: Call) -> HttpResponseBase:
    """Create a thread and a run on it in one call."""
    agent = get_agent(call, req_str(call.body, "assistant_id"))
    stream = opt_bool(call.body, "stream")
    thread_body = opt_dict(call.body, "thread") or {}
    options = _options(call.body)
    run_create_allow(api_key_id=call.api_key.pk)
    with stream_slot(call) if stream else contextlib.nullcontext() as slot, transaction.atomic():
        thread = thread_from_body(call, thread_body, param_prefix="thread.")
        run = run_create(thread=thread, agent=agent, actor_label=call.actor_label, options=options)
    if slot is not None:
        return event_stream(run.id, thread=thread, slot=slot)
    return ok(run_json(run))


def list_(call: Call, thread_id: str) -> HttpResponseBase:
    """List a thread's runs."""
    thread = get_thread(call, thread_id)
    return ok(page(Run.objects.filter(thread=thread), call.query, run_json))


def retrieve(call: Call, thread_id: str, run_id: str) -> HttpResponseBase:
    """Get a run."""
    return ok(run_json(get_run(call, thread_id, run_id)))


def update(call: Call, thread_id: str, run_id: str) -> HttpResponseBase:
    """Update a run's metadata."""
    run = get_run(call, thread_id, run_id)
    return ok(run_json(run_update(run=run, metadata=call.body.get("metadata"))))


def cancel(call: Call, thread_id: str, run_id: str) -> HttpResponseBase:
    """Cancel a run."""
    return ok(run_json(run_cancel(run=get_run(call, thread_id, run_id), actor_label=call.actor_label)))


def submit_tool_outputs(call: Call, thread_id: str, run_id: str) -> HttpResponseBase:
    """Submit the outputs of the run's pending tool calls (stream the rest with ``"stream": true``)."""
    run = get_run(call, thread_id, run_id)
    outputs = opt_list(call.body, "tool_outputs")
    if outputs is None:
        raise invalid("tool_outputs is required.", param="tool_outputs")
    if opt_bool(call.body, "stream"):
        with stream_slot(call) as slot:
            run = run_submit_tool_outputs(run=run, tool_outputs=outputs, actor_label=call.actor_label)
        return event_stream(run.id, resumed=True, slot=slot)
    run = run_submit_tool_outputs(run=run, tool_outputs=outputs, actor_label=call.actor_label)
    return ok(run_json(run))


# --- steps ------------------------------------------------------------------------------------------------


def step_list(call: Call, thread_id: str, run_id: str) -> HttpResponseBase:
    """List a run's steps."""
    run = get_run(call, thread_id, run_id)
    return ok(
        page(
            RunStep.objects.filter(run=run),
            call.query,
            lambda step: step_json(step, assistant_id=run.agent_ref, include_content=_include_content(call)),
        )
    )


def step_retrieve(call: Call, thread_id: str, run_id: str, step_id: str) -> HttpResponseBase:
    """Get a run step."""
    run = get_run(call, thread_id, run_id)
    step = RunStep.objects.filter(run=run, pk=step_id).first()
    if step is None:
        raise not_found("run step", step_id)
    return ok(step_json(step, assistant_id=run.agent_ref, include_content=_include_content(call)))


def _include_content(call: Call) -> bool:
    """``include[]`` (the SDK sends one comma-joined parameter) asks for file search results' text."""
    values = [*call.query.getlist("include[]"), *call.query.getlist("include")]
    return FILE_SEARCH_CONTENT in {v.strip() for value in values for v in value.split(",")}
