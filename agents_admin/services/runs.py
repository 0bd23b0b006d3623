"""The run engine: create, execute (in a Celery worker), pause for tools, cancel, expire, reconcile.

Every status change is a conditional UPDATE on the current status, so two workers, a redelivered message or a
race with cancel/expiry can never both make a transition: whoever changes the row wins, the other backs off.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents_admin import validation
from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import ACTIVE_RUN_STATUSES, Agent, Message, Run, RunStatus, RunStep, Thread
from agents_admin.providers.base import (
    Cancelled,
    ModelReply,
    ModelRequest,
    ProviderError,
    TransientProviderError,
)
from agents_admin.providers.registry import provider_for
from agents_admin.services import remote
from agents_admin.services.audit import Actor, audit_record
from agents_admin.services.context import run_model_input
from agents_admin.services.dispatch import run_dispatch
from agents_admin.services.threads import message_create, messages_add

logger = logging.getLogger(__name__)

# A provider call is retried on transient errors this many times at most, within the run's time budget.
MAX_PROVIDER_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
# How often a working run writes its heartbeat and streamed text (seconds).
CHECKPOINT_INTERVAL = 0.4
# A claimed run is re-dispatched at most this many times after its worker vanished.
MAX_CLAIMS = 3


# --- creation ------------------------------------------------------------------------------------------


def run_create(
    *,
    thread: Thread,
    agent: Agent,
    user: Any = None,
    actor: Actor = None,
    actor_label: str = "",
    model: str | None = None,
    instructions: str | None = None,
    additional_instructions: str | None = None,
    additional_messages: list[dict[str, Any]] | None = None,
    tools: list[dict[str, Any]] | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_prompt_tokens: int | None = None,
    max_completion_tokens: int | None = None,
    truncation_strategy: dict[str, Any] | None = None,
    tool_choice: Any = None,
    response_format: Any = None,
    parallel_tool_calls: bool | None = None,
    metadata: dict[str, Any] | None = None,
) -> Run:
    """Queue a run of ``agent`` on ``thread``; the worker is told once the transaction commits.

    Raises Conflict when the thread already has an active run, InvalidInput naming the bad field.
    ``actor`` (or the older ``user``) is who the audit log names.
    """
    if thread.remote_project_id is not None:  # mirrored: started on the remote and followed by a worker
        overrides = {
            "model": model,
            "instructions": instructions,
            "additional_instructions": additional_instructions,
            "additional_messages": additional_messages,
            "tools": tools,
            "temperature": temperature,
            "top_p": top_p,
            "max_prompt_tokens": max_prompt_tokens,
            "max_completion_tokens": max_completion_tokens,
            "truncation_strategy": truncation_strategy,
            "tool_choice": tool_choice,
            "response_format": response_format,
            "parallel_tool_calls": parallel_tool_calls,
            "metadata": metadata,
        }
        return remote.remote_run_create(thread=thread, agent=agent, **overrides)
    actor = actor if actor is not None else user
    created_by = actor if isinstance(actor, get_user_model()) and actor.is_authenticated else None
    if agent.project_id != thread.project_id:
        raise InvalidInput("The agent belongs to another project than the thread.", param="assistant_id")
    effective_instructions = agent.instructions if instructions is None else instructions
    if additional_instructions:
        effective_instructions = f"{effective_instructions}\n\n{additional_instructions}".strip()
    for name, value in (
        ("max_prompt_tokens", max_prompt_tokens),
        ("max_completion_tokens", max_completion_tokens),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidInput(f"{name} must be a positive integer.", param=name)
    fields = {
        "model": validation.validate_name(model or agent.model, param="model", required=True),
        "instructions": effective_instructions,
        "tools": validation.validate_tools(agent.tools if tools is None else tools),
        "temperature": validation.validate_range(
            agent.temperature if temperature is None else temperature, param="temperature", low=0, high=2
        ),
        "top_p": validation.validate_range(agent.top_p if top_p is None else top_p, param="top_p", low=0, high=1),
        "max_prompt_tokens": max_prompt_tokens,
        "max_completion_tokens": max_completion_tokens,
        "truncation_strategy": validation.validate_truncation_strategy(truncation_strategy),
        "tool_choice": tool_choice,
        "response_format": validation.validate_response_format(
            agent.response_format if response_format is None else response_format
        ),
        "parallel_tool_calls": True if parallel_tool_calls is None else bool(parallel_tool_calls),
        "metadata": validation.validate_metadata(metadata),
    }
    now = timezone.now()
    try:
        with transaction.atomic():
            messages_add(thread=thread, items=additional_messages or [], param="additional_messages")
            run = Run.objects.create(
                thread=thread,
                agent=agent,
                agent_ref=agent.id,
                agent_version=agent.version,
                connection_id=agent.connection_id,
                expires_at=now + timedelta(seconds=settings.RUN_EXPIRY_SECONDS),
                enqueued_at=now,
                created_by=created_by,
                **fields,
            )
            Thread.objects.filter(pk=thread.pk).update(
                last_activity_at=now, last_agent=agent, last_run_status=RunStatus.QUEUED
            )
            audit_record(
                action="run.start", actor=actor, actor_label=actor_label, object_type="run", object_id=run.id,
                project_id=thread.project_id,
                after={"thread_id": thread.id, "agent_id": agent.id, "agent_version": agent.version,
                       "model": run.model},
            )  # fmt: skip
            run_dispatch(run.id)
    except IntegrityError as exc:
        active = Run.objects.filter(thread=thread, status__in=ACTIVE_RUN_STATUSES).only("id").first()
        if active is None:
            raise
        raise Conflict(
            f"Thread {thread.id} already has an active run {active.id}.",
            param="thread_id",
            code="thread_has_active_run",
        ) from exc
    return run


# --- state changes from outside the worker ---------------------------------------------------------------


def run_update(*, run: Run, metadata: dict[str, Any] | None) -> Run:
    """Replace a run's metadata, in any state; a single-column update so it never races the worker."""
    cleaned = validation.validate_metadata(metadata)
    Run.objects.filter(pk=run.pk).update(metadata=cleaned)
    run.refresh_from_db()
    return run


def run_cancel(*, run: Run, actor: Actor = None, actor_label: str = "") -> Run:
    """Cancel a run: at once when no worker holds it (queued, requires_action), else via ``cancelling``.

    Cancelling a run that already ended raises Conflict; cancelling twice is harmless (and audited once: only
    the call that changed the status writes a record).
    """
    if run.remote_project_id is not None:
        return remote.remote_run_cancel(run=run)
    now = timezone.now()
    with transaction.atomic():
        before = Run.objects.filter(pk=run.id).values_list("status", flat=True).first()
        target = None
        if _transition(run.id, [RunStatus.QUEUED, RunStatus.REQUIRES_ACTION], RunStatus.CANCELLED, cancelled_at=now):
            _steps_close(run.id, RunStep.Status.CANCELLED, now)
            _thread_touch(run.thread_id, RunStatus.CANCELLED, now)
            target = RunStatus.CANCELLED
        elif _transition(run.id, [RunStatus.IN_PROGRESS], RunStatus.CANCELLING):
            _thread_touch(run.thread_id, RunStatus.CANCELLING, now)
            target = RunStatus.CANCELLING
        if target is not None:
            audit_record(
                action="run.cancel", actor=actor, actor_label=actor_label, object_type="run", object_id=run.id,
                project_id=run.thread.project_id, before={"status": before}, after={"status": str(target)},
            )  # fmt: skip
    run.refresh_from_db()
    if run.status not in (RunStatus.CANCELLED, RunStatus.CANCELLING):
        raise Conflict(f"Run {run.id} has already ended ({run.status}); it cannot be cancelled.", param="run_id")
    return run


def run_submit_tool_outputs(
    *, run: Run, tool_outputs: list[dict[str, Any]], actor: Actor = None, actor_label: str = ""
) -> Run:
    """Record outputs for every pending tool call and queue the run again.

    Every pending call needs exactly one output; anything else raises InvalidInput and changes nothing.
    """
    if run.remote_project_id is not None:
        return remote.remote_run_submit_tool_outputs(run=run, tool_outputs=tool_outputs)
    if run.status != RunStatus.REQUIRES_ACTION:
        raise Conflict(f"Run {run.id} is {run.status}, not waiting for tool outputs.", param="run_id")
    if not isinstance(tool_outputs, list):
        raise InvalidInput("tool_outputs must be a list.", param="tool_outputs")
    pending = {str(call["id"]) for call in run.pending_tool_calls}
    outputs: dict[str, str] = {}
    for index, item in enumerate(tool_outputs):
        call_id = item.get("tool_call_id") if isinstance(item, dict) else None
        if not isinstance(call_id, str) or call_id not in pending:
            raise InvalidInput(
                f"tool_outputs[{index}].tool_call_id '{call_id}' is not a pending tool call of this run.",
                param=f"tool_outputs[{index}].tool_call_id",
            )
        if call_id in outputs:
            raise InvalidInput(f"Tool call '{call_id}' has two outputs.", param=f"tool_outputs[{index}]")
        output = item.get("output", "")
        outputs[call_id] = output if isinstance(output, str) else json.dumps(output)
    missing = pending - outputs.keys()
    if missing:
        raise InvalidInput(f"Missing output for tool call '{sorted(missing)[0]}'.", param="tool_outputs")
    now = timezone.now()
    with transaction.atomic():
        if not _transition(
            run.id, [RunStatus.REQUIRES_ACTION], RunStatus.QUEUED, required_action=None, enqueued_at=now
        ):
            raise Conflict(f"Run {run.id} is no longer waiting for tool outputs.", param="run_id")
        step = RunStep.objects.select_for_update().get(run=run, type=RunStep.Type.TOOL_CALLS, status="in_progress")
        for call in step.step_details["tool_calls"]:
            call["function"]["output"] = outputs[call["id"]]
        step.status = RunStep.Status.COMPLETED
        step.completed_at = now
        step.save(update_fields=["step_details", "status", "completed_at"])
        _thread_touch(run.thread_id, RunStatus.QUEUED, now)
        audit_record(
            action="run.submit_tool_outputs", actor=actor, actor_label=actor_label, object_type="run",
            object_id=run.id, project_id=run.thread.project_id, before={"status": RunStatus.REQUIRES_ACTION.value},
            after={"status": RunStatus.QUEUED.value, "tool_call_ids": sorted(outputs)},
        )  # fmt: skip
        run_dispatch(run.id)
    run.refresh_from_db()
    return run


def runs_expire(*, now: datetime | None = None) -> int:
    """Expire every unfinished run past its expires_at; returns how many. Safe to run anywhere, any time."""
    now = now or timezone.now()
    expired = 0
    due = Run.objects.filter(
        status__in=ACTIVE_RUN_STATUSES,
        expires_at__lte=now,
        remote_project__isnull=True,  # a remote run's lifecycle is the remote's (services/remote.py)
    ).values_list("id", "thread_id")
    for run_id, thread_id in list(due[:1000]):
        with transaction.atomic():
            if _transition(run_id, list(ACTIVE_RUN_STATUSES), RunStatus.EXPIRED, required_action=None):
                _steps_close(run_id, RunStep.Status.EXPIRED, now)
                Message.objects.filter(run_id=run_id, status=Message.Status.IN_PROGRESS).update(
                    status=Message.Status.INCOMPLETE, incomplete_details={"reason": "run_expired"}
                )
                _thread_touch(thread_id, RunStatus.EXPIRED, now)
                expired += 1
    if expired:
        logger.info("expired %d runs", expired)
    return expired


def runs_reconcile(*, now: datetime | None = None) -> int:
    """Re-dispatch runs whose task went missing: queued runs the broker lost, and in-progress runs whose
    worker stopped beating. Never runs one twice: the worker's claim is a conditional update."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.RUN_HEARTBEAT_STALE_SECONDS)
    redispatched = 0
    lost_queued = Run.objects.filter(
        status=RunStatus.QUEUED, enqueued_at__lt=stale, expires_at__gt=now, remote_project__isnull=True
    )
    for run_id in list(lost_queued.values_list("id", flat=True)[:500]):
        with transaction.atomic():
            if Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, enqueued_at__lt=stale).update(enqueued_at=now):
                run_dispatch(run_id)
                redispatched += 1
    dead = Run.objects.filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True),
        status__in=[RunStatus.IN_PROGRESS, RunStatus.CANCELLING],
        started_at__lt=stale,
        remote_project__isnull=True,
    )
    for run in list(dead.only("id", "status", "attempts", "thread_id")[:500]):
        with transaction.atomic():
            if run.status == RunStatus.CANCELLING:
                if _transition(run.id, [RunStatus.CANCELLING], RunStatus.CANCELLED, cancelled_at=now):
                    _steps_close(run.id, RunStep.Status.CANCELLED, now)
                    _thread_touch(run.thread_id, RunStatus.CANCELLED, now)
            elif run.attempts >= MAX_CLAIMS:
                _fail(run.id, run.thread_id, "worker_lost", "The worker processing this run stopped responding.")
            elif Run.objects.filter(pk=run.id, status=RunStatus.IN_PROGRESS, heartbeat_at=run.heartbeat_at).update(
                status=RunStatus.QUEUED, enqueued_at=now
            ):
                logger.warning("run %s lost its worker; dispatching it again", run.id)
                run_dispatch(run.id)
                redispatched += 1
    return redispatched


# --- execution (in the worker) ----------------------------------------------------------------------------


def run_claim(run_id: str) -> bool:
    """queued -> in_progress. True for exactly one caller; a redelivered task gets False and does nothing."""
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, expires_at__gt=now, remote_project=None).update(
        status=RunStatus.IN_PROGRESS,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    if claimed:
        Thread.objects.filter(runs__id=run_id).update(last_run_status=RunStatus.IN_PROGRESS)
    return bool(claimed)


def run_execute(*, run_id: str) -> None:
    """Do one turn of a run: claim it, call the model, then complete, pause for tools, or fail.

    Idempotent: a run that is not queued is left alone. Whatever goes wrong ends the run (failed with a
    reason, or cancelled/expired); nothing escapes to crash the worker.
    """
    if not run_claim(run_id):
        logger.info("run %s is not queued; nothing to do", run_id)
        return
    run = Run.objects.select_related("thread").get(pk=run_id)
    stream = _Stream(run)
    try:
        reply = _call_model(run, stream)
        _finish(run, reply, stream)
    except Cancelled:
        _stop(run, stream)
    except ProviderError as exc:
        logger.info("run %s failed: %s %s", run.id, exc.code, exc.message)
        _fail(run.id, run.thread_id, exc.code, exc.message, stream=stream)
    except SoftTimeLimitExceeded:
        _fail(
            run.id,
            run.thread_id,
            "timeout",
            "The run took longer than the worker's time limit.",
            stream=stream,
        )
    except Exception:
        logger.exception("run %s crashed", run.id)
        _fail(
            run.id,
            run.thread_id,
            "server_error",
            "The run failed because of an internal error.",
            stream=stream,
        )


def _call_model(run: Run, stream: _Stream) -> ModelReply:
    provider = provider_for(project_id=run.thread.project_id, model=run.model, connection=run.connection)
    # Leave room in the window for the answer the run allows.
    context = max(provider.context_window - (run.max_completion_tokens or 0), 1)
    messages, _ = run_model_input(run, context_tokens=context)
    request = ModelRequest(
        model=run.model,
        messages=messages,
        tools=run.tools,
        temperature=run.temperature,
        top_p=run.top_p,
        max_completion_tokens=run.max_completion_tokens,
        response_format=run.response_format,
        tool_choice=run.tool_choice,
        parallel_tool_calls=run.parallel_tool_calls,
    )
    attempt = 0
    while True:
        attempt += 1
        try:
            return provider.complete(request, stream.checkpoint)
        except TransientProviderError as exc:
            delay = _backoff(attempt, exc.retry_after)
            budget = (run.expires_at - timezone.now()).total_seconds()
            if attempt >= MAX_PROVIDER_ATTEMPTS or delay >= budget:
                raise
            logger.info("run %s: %s, retrying in %.1fs", run.id, exc.code, delay)
            stream.sleep(delay)


def _backoff(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, capped; a server's Retry-After wins when it asks for longer."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)


@dataclass
class _Stream:
    """The worker's side of a run in flight: heartbeats, cancel checks and the streamed assistant message."""

    run: Run
    message: Message | None = None
    last_flush: float = 0.0
    text: str = ""

    def checkpoint(self, text: str) -> None:
        self.text = text
        if time.monotonic() - self.last_flush < CHECKPOINT_INTERVAL:
            return
        self.last_flush = time.monotonic()
        alive = Run.objects.filter(pk=self.run.id, status=RunStatus.IN_PROGRESS).update(heartbeat_at=timezone.now())
        if not alive:
            raise Cancelled()
        if text:
            self._write_partial(text)

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, CHECKPOINT_INTERVAL))
            self.last_flush = 0.0
            self.checkpoint(self.text)

    def _write_partial(self, text: str) -> None:
        if self.message is None:
            self.message = message_create(
                thread=self.run.thread,
                role=Message.Role.ASSISTANT,
                content=text,
                agent_id=self.run.agent_ref,
                run=self.run,
                status=Message.Status.IN_PROGRESS,
            )
        else:
            Message.objects.filter(pk=self.message.pk).update(
                content=[{"type": "text", "text": {"value": text, "annotations": []}}], text=text
            )


def _finish(run: Run, reply: ModelReply, stream: _Stream) -> None:
    """Write what the model answered and move the run on; if someone else moved it first, write nothing."""
    now = timezone.now()
    usage = {
        "prompt_tokens": (run.prompt_tokens or 0) + reply.usage.prompt_tokens,
        "completion_tokens": (run.completion_tokens or 0) + reply.usage.completion_tokens,
    }
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    step_usage = {
        "prompt_tokens": reply.usage.prompt_tokens,
        "completion_tokens": reply.usage.completion_tokens,
    }
    with transaction.atomic():
        if reply.tool_calls:
            calls = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.tool_calls
            ]
            required = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
            if not _transition(
                run.id, [RunStatus.IN_PROGRESS], RunStatus.REQUIRES_ACTION, required_action=required, **usage
            ):
                raise Cancelled()
            RunStep.objects.create(
                run=run,
                thread_id=run.thread_id,
                type=RunStep.Type.TOOL_CALLS,
                step_details={"type": "tool_calls", "tool_calls": calls},
                **step_usage,
            )
            _thread_touch(run.thread_id, RunStatus.REQUIRES_ACTION, now)
            return
        incomplete = reply.finish_reason == "length"
        status = RunStatus.INCOMPLETE if incomplete else RunStatus.COMPLETED
        extra: dict[str, Any] = {"completed_at": now, **usage}
        if incomplete:
            extra["incomplete_details"] = {"reason": "max_completion_tokens"}
        if not _transition(run.id, [RunStatus.IN_PROGRESS], status, **extra):
            raise Cancelled()
        message = _message_final(run, stream, reply.text, now, incomplete=incomplete)
        RunStep.objects.create(
            run=run,
            thread_id=run.thread_id,
            type=RunStep.Type.MESSAGE_CREATION,
            status=RunStep.Status.COMPLETED,
            step_details={"type": "message_creation", "message_creation": {"message_id": message.id}},
            completed_at=now,
            **step_usage,
        )
        _thread_touch(run.thread_id, status, now)


def _message_final(run: Run, stream: _Stream, text: str, now: datetime, *, incomplete: bool) -> Message:
    status = Message.Status.INCOMPLETE if incomplete else Message.Status.COMPLETED
    details = {"reason": "max_tokens"} if incomplete else None
    if stream.message is None:
        message = message_create(
            thread=run.thread,
            role=Message.Role.ASSISTANT,
            content=text or " ",
            agent_id=run.agent_ref,
            run=run,
        )
        Message.objects.filter(pk=message.pk).update(status=status, incomplete_details=details)
        return message
    Message.objects.filter(pk=stream.message.pk).update(
        content=[{"type": "text", "text": {"value": text, "annotations": []}}],
        text=text,
        status=status,
        incomplete_details=details,
        completed_at=now,
    )
    return stream.message


def _stop(run: Run, stream: _Stream) -> None:
    """The run was cancelled or expired under the worker: finish a pending cancel and close the leftovers."""
    now = timezone.now()
    with transaction.atomic():
        if _transition(run.id, [RunStatus.CANCELLING], RunStatus.CANCELLED, cancelled_at=now):
            _steps_close(run.id, RunStep.Status.CANCELLED, now)
            _thread_touch(run.thread_id, RunStatus.CANCELLED, now)
        current = Run.objects.values_list("status", flat=True).get(pk=run.id)
        reason = {"cancelled": "run_cancelled", "expired": "run_expired"}.get(current, "run_failed")
        if stream.message is not None:
            Message.objects.filter(pk=stream.message.pk, status=Message.Status.IN_PROGRESS).update(
                status=Message.Status.INCOMPLETE, incomplete_details={"reason": reason}
            )


def _fail(run_id: str, thread_id: str, code: str, message: str, *, stream: _Stream | None = None) -> None:
    now = timezone.now()
    with transaction.atomic():
        failed = _transition(
            run_id,
            [RunStatus.IN_PROGRESS, RunStatus.QUEUED],
            RunStatus.FAILED,
            failed_at=now,
            last_error={"code": code, "message": message},
            required_action=None,
        )
        if failed:
            _steps_close(run_id, RunStep.Status.FAILED, now)
            _thread_touch(thread_id, RunStatus.FAILED, now)
        if stream is not None and stream.message is not None:
            Message.objects.filter(pk=stream.message.pk, status=Message.Status.IN_PROGRESS).update(
                status=Message.Status.INCOMPLETE, incomplete_details={"reason": "run_failed"}
            )
    if not failed and stream is not None:
        _stop(stream.run, stream)


# --- helpers --------------------------------------------------------------------------------------------


def _transition(run_id: str, sources: list[str], target: str, **fields: Any) -> bool:
    """Move the run from one of ``sources`` to ``target``; True only if this call made the change."""
    return bool(Run.objects.filter(pk=run_id, status__in=sources).update(status=target, **fields))


def _steps_close(run_id: str, status: str, now: datetime) -> None:
    stamp = {"cancelled": "cancelled_at", "expired": "expired_at", "failed": "failed_at"}[str(status)]
    RunStep.objects.filter(run_id=run_id, status=RunStep.Status.IN_PROGRESS).update(status=status, **{stamp: now})


def _thread_touch(thread_id: str, status: str, now: datetime) -> None:
    fields: dict[str, Any] = {"last_run_status": status, "last_activity_at": now}
    if status == RunStatus.FAILED:
        fields["has_failed_run"] = True
    Thread.objects.filter(pk=thread_id).update(**fields)
