"""Responses of the v2 protocol: an agent's turn in a conversation, executed as a run of the thread by the same
run engine as a classic run (so the console shows it as a run, with its trace and usage).

What differs from a classic run is only at the edges: the input arrives with the call (messages to append, or
``function_call_output`` items answering an earlier response's function calls), and a response that asks for
function calls ends ``completed`` with them instead of waiting in ``requires_action`` (services/runs.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from agents_admin import ids, validation
from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    Agent,
    AgentVersion,
    Message,
    Project,
    Response,
    Run,
    RunStep,
    Thread,
)
from agents_admin.services.audit import Actor, audit_record
from agents_admin.services.runs import run_cancel, run_create
from agents_admin.services.stores import MIRRORED, RunOptions, messages_add, store_for
from agents_admin.services.threads import thread_create


@dataclass
class ResponseInput:
    """What a response's ``input`` adds: messages for the thread, outputs for earlier function calls (by call
    id), and every item as received (``input_items`` reads them back)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ResponseRequest:
    project: Project
    agent: Agent
    agent_name: str
    version: AgentVersion | None  # None: the agent's latest
    thread: Thread | None  # the conversation named, or the previous response's thread; None: a new one
    previous: Response | None
    in_conversation: bool
    input: ResponseInput
    background: bool = False
    metadata: dict[str, Any] | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None


def response_create(*, request: ResponseRequest, actor: Actor = None, actor_label: str = "") -> Response:
    """Append the input to the conversation and queue the run that answers it; the worker is told once the
    transaction commits. InvalidInput/Conflict change nothing (no message, no run, no response)."""
    r = request
    if r.thread is not None and store_for(r.thread) is MIRRORED:
        raise InvalidInput(
            "This conversation is mirrored from a remote Foundry project; create its responses there.",
            param="conversation",
        )
    metadata = validation.validate_metadata(r.metadata)
    with transaction.atomic():
        thread = r.thread or thread_create(project=r.project, conversation=True)
        answers_run = _outputs_record(thread, r.previous, r.input.outputs) if r.input.outputs else None
        before = Thread.objects.values_list("message_count", flat=True).get(pk=thread.pk)
        messages_add(thread=thread, items=r.input.messages, param="input")
        added = list(Message.objects.filter(thread=thread, seq__gt=before).order_by("seq").values_list("id", flat=True))
        run = run_create(thread=thread, agent=r.agent, actor=actor, actor_label=actor_label, options=_options(r))
        if r.version is not None and r.version.version != run.agent_version:
            Run.objects.filter(pk=run.pk).update(agent_version=r.version.version)
        response = Response.objects.create(
            project=r.project,
            thread=thread,
            run=run,
            agent_name=r.agent_name,
            agent_version=str(r.version.version) if r.version is not None else "",
            previous_response=r.previous,
            answers_run=answers_run,
            in_conversation=r.in_conversation,
            background=r.background,
            input_items=_items_with_ids(r.input.items, added),
            input_seq=before,
            after_seq=before + len(added),
            metadata=metadata,
        )
    return response


def _options(r: ResponseRequest) -> RunOptions:
    """The run's settings: a named older version's definition (the agent row holds the latest), and what the
    call may set (not tools, tool_choice, text or instructions: the agent's own, as the service insists)."""
    definition = r.version.definition if r.version is not None and r.version.version != r.agent.version else None
    kept: dict[str, Any] = {}
    if definition is not None:
        kept = {
            "model": definition.get("model"),
            "instructions": definition.get("instructions") or "",
            "tools": definition.get("tools") or [],
            "temperature": definition.get("temperature"),
            "top_p": definition.get("top_p"),
            "response_format": definition.get("response_format"),
        }
    kept["tool_choice"] = (r.version.definition if r.version is not None else {}).get("tool_choice")
    kept["max_completion_tokens"] = r.max_output_tokens
    kept.update({k: v for k, v in (("temperature", r.temperature), ("top_p", r.top_p)) if v is not None})
    return RunOptions(**kept)


def _outputs_record(thread: Thread, previous: Response | None, outputs: dict[str, str]) -> Run:
    """Write the function outputs into the step of the run that asked for them (the previous response's, else
    the conversation's latest call for those ids) and return that run; the new run reads them from there."""
    steps = RunStep.objects.select_for_update().filter(thread=thread, type=RunStep.Type.TOOL_CALLS)
    if previous is not None:
        steps = steps.filter(run_id=previous.run_id)
    wanted = set(outputs)
    step = None
    for candidate in steps.order_by("-created_at", "-id")[:20]:
        if wanted & {str(c.get("id")) for c in candidate.tool_calls}:
            step = candidate
            break
    if step is None:
        raise InvalidInput(
            f"No function call with call_id '{sorted(wanted)[0]}' to answer"
            + (" in the previous response." if previous is not None else " in this conversation."),
            param="input",
        )
    calls = {str(c.get("id")): c for c in step.tool_calls}
    unknown = sorted(wanted - calls.keys())
    if unknown:
        raise InvalidInput(f"call_id '{unknown[0]}' is not a function call of that response.", param="input")
    missing = sorted(calls.keys() - wanted)
    if missing:
        raise InvalidInput(f"Missing a function_call_output for call_id '{missing[0]}'.", param="input")
    for call_id, call in calls.items():
        call["function"]["output"] = outputs[call_id]
    step.save(update_fields=["step_details"])
    return Run.objects.get(pk=step.run_id)


def _items_with_ids(items: list[dict[str, Any]], message_ids: list[str]) -> list[dict[str, Any]]:
    """The input items as stored: each message item carries the id of the message it became, other items an id
    of their own, so ``input_items`` pages them by id."""
    pending = iter(message_ids)
    stored = []
    for item in items:
        if item.get("type") == "message":
            stored.append({**item, "id": next(pending, "")})
        else:
            stored.append({"id": ids.new_id("item"), **item})
    return stored


def response_cancel(*, response: Response, actor: Actor = None, actor_label: str = "") -> Response:
    """Cancel a background response (its run): at once when queued, else as soon as the worker notices."""
    if not response.background:
        raise InvalidInput("Only responses created with background=true can be cancelled.", param="response_id")
    run_cancel(run=response.run, actor=actor, actor_label=actor_label)
    return response


def response_delete(*, response: Response, actor: Actor = None, actor_label: str = "") -> None:
    """Forget a response: the response object goes; the conversation keeps its items, and its run stays in the
    thread's history (retention governs that). Refused while it runs."""
    with transaction.atomic():
        if Run.objects.filter(pk=response.run_id, status__in=ACTIVE_RUN_STATUSES).exists():
            raise Conflict(
                f"Response {response.id} is still running; cancel it or wait for it to end.", param="response_id"
            )
        audit_record(
            action="response.delete", actor=actor, actor_label=actor_label, object_type="response",
            object_id=response.id, project_id=response.project_id,
            before={"thread_id": response.thread_id, "run_id": response.run_id, "agent": response.agent_name},
        )  # fmt: skip
        response.delete()
