"""Where a project's writes go: our own database, or a remote Foundry project that we mirror.

The core services (threads, runs, agents, retention) validate what is common, then call the store that
``store_for(obj)`` / ``store_for_project(project)`` picks, and never ask themselves whether an object is
mirrored. Two stores keep the ``ProjectStore`` contract:

- ``LocalStore`` writes our database (audited; runs are handed to a worker after commit);
- ``MirroredStore`` acts on the remote first and mirrors its answer (services/remote.py), so a local row never
  claims what the remote did not do. Its failures are ``RemoteFailed`` and leave nothing changed locally.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from agents_admin import validation
from agents_admin.errors import Conflict, InvalidInput, LimitExceeded
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    Agent,
    AgentVersion,
    Message,
    Project,
    RemoteProject,
    Run,
    RunStatus,
    RunStep,
    Thread,
)
from agents_admin.services import remote
from agents_admin.services.audit import Actor, audit_record, changed_fields
from agents_admin.services.dispatch import RUN_EXECUTE, task_send
from agents_admin.services.run_status import run_steps_close, run_transition, thread_run_touch
from agents_admin.services.thread_titles import thread_title_on_message
from agents_admin.services.tools import tools_check
from agents_admin.services.traces import run_ended, tool_spans_record
from agents_admin.services.vector_stores import attachment_search_files, thread_store_attach


@dataclass(frozen=True)
class RunOptions:
    """What a run may change from its agent (the CreateRun fields); None keeps the agent's value."""

    model: str | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    additional_messages: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: dict[str, Any] | None = None
    tool_choice: Any = None
    response_format: Any = None
    parallel_tool_calls: bool | None = None
    metadata: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class ProjectStore(Protocol):
    """The writes whose home differs between a local and a mirrored project. Callers have checked what is
    common to both (permissions, agent fields); each store checks the rest and raises InvalidInput/Conflict."""

    def message_create(
        self,
        *,
        thread: Thread,
        role: str,
        content: Any,
        attachments: list[dict[str, Any]] | None,
        metadata: dict[str, Any] | None,
        agent_id: str | None,
        run: Run | None,
        status: str,
    ) -> Message: ...

    def run_create(
        self, *, thread: Thread, agent: Agent, actor: Actor, actor_label: str, options: RunOptions
    ) -> Run: ...

    def run_cancel(self, *, run: Run, actor: Actor, actor_label: str) -> Run: ...

    def run_submit_tool_outputs(
        self, *, run: Run, tool_outputs: list[dict[str, Any]], actor: Actor, actor_label: str
    ) -> Run: ...

    def agent_create(self, *, project: Project, fields: dict[str, Any], actor: Actor, actor_label: str) -> Agent: ...

    def agent_update(self, *, agent: Agent, changed: dict[str, Any], actor: Actor, actor_label: str) -> Agent: ...

    def agent_delete(self, *, agent: Agent) -> None: ...

    def threads_delete(self, *, thread_ids: list[str]) -> tuple[list[str], list[dict[str, str]]]:
        """Delete at the source whatever must go before the local rows; returns ``(deletable, failures)``:
        the ids the caller may now delete locally, and the refused ones for the purge report."""
        ...


def run_principal(actor_label: str, user: Any) -> str:
    """Who a run is counted for in usage: the API key that started it, else the signed-in user."""
    if actor_label.startswith("api-key:"):
        return actor_label
    return f"user:{user.get_username()}" if user is not None else ""


def store_for(obj: Thread | Run | Agent) -> ProjectStore:
    """The store an existing thread, run or agent lives in."""
    return MIRRORED if obj.remote_project_id is not None else LOCAL


def store_for_project(project: Project) -> ProjectStore:
    """The store new objects of ``project`` go to: a remote project's local namespace is mirrored."""
    return MIRRORED if RemoteProject.objects.filter(project=project).exists() else LOCAL


def threads_delete_at_source(*, thread_ids: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """``ProjectStore.threads_delete`` for a batch that may span projects (a retention purge): mirrored threads
    go on their remotes first, local ones pass straight through. One query for the whole batch."""
    return MIRRORED.threads_delete(thread_ids=thread_ids)


def tools_checked(tools: Any, *, project_id: int) -> list[dict[str, Any]]:
    """A local run's tools: each one this service can run, with a definition that can run."""
    cleaned = validation.validate_tools(tools)
    tools_check(cleaned, project_id=project_id)
    return cleaned


def messages_add(*, thread: Thread, items: list[Any], param: str) -> None:
    """Add API-shaped messages (each ``{"role", "content", ...}``) to a local thread in order; InvalidInput
    names ``param[i]``. Callers hold the transaction, so a bad item leaves none of them behind."""
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput("Each message must be an object.", param=f"{param}[{index}]")
        LOCAL.message_create(
            thread=thread,
            role=item.get("role", ""),
            content=item.get("content"),
            attachments=item.get("attachments"),
            metadata=item.get("metadata"),
            agent_id=None,
            run=None,
            status=Message.Status.COMPLETED,
        )


class LocalStore:
    """Our own database."""

    def message_create(
        self,
        *,
        thread: Thread,
        role: str,
        content: Any,
        attachments: list[dict[str, Any]] | None,
        metadata: dict[str, Any] | None,
        agent_id: str | None,
        run: Run | None,
        status: str,
    ) -> Message:
        if role not in Message.Role.values:
            raise InvalidInput("role must be 'user' or 'assistant'.", param="role")
        parts, text = validation.validate_content(content)
        if attachments is not None and not isinstance(attachments, list):
            raise InvalidInput("attachments must be a list.", param="attachments")
        metadata = validation.validate_metadata(metadata)
        limit = settings.MAX_MESSAGES_PER_THREAD
        now = timezone.now()
        with transaction.atomic():
            if run is None:
                active = Run.objects.filter(thread=thread, status__in=ACTIVE_RUN_STATUSES).only("id").first()
                if active is not None:
                    raise Conflict(
                        f"Thread {thread.id} already has an active run {active.id}.",
                        param="thread_id",
                        code="thread_has_active_run",
                    )
            # The conditional increment both reserves the next sequence number and enforces the limit.
            updated = Thread.objects.filter(pk=thread.pk, message_count__lt=limit).update(
                message_count=F("message_count") + 1, last_activity_at=now
            )
            if not updated:
                raise LimitExceeded(
                    f"Thread {thread.id} has reached the limit of {limit:,} messages; start a new thread.",
                    param="thread_id",
                    code="thread_message_limit",
                )
            seq = Thread.objects.values_list("message_count", flat=True).get(pk=thread.pk)
            message = Message.objects.create(
                thread=thread,
                seq=seq,
                role=role,
                content=parts,
                text=text,
                attachments=attachments or [],
                metadata=metadata,
                agent_id=agent_id,
                run=run,
                status=status,
                completed_at=now if status == Message.Status.COMPLETED else None,
            )
            thread_title_on_message(thread, role=role, text=text)
            thread_store_attach(thread=thread, file_ids=attachment_search_files(attachments))
        thread.message_count = seq
        thread.last_activity_at = now
        return message

    def run_create(self, *, thread: Thread, agent: Agent, actor: Actor, actor_label: str, options: RunOptions) -> Run:
        created_by = actor if isinstance(actor, get_user_model()) and actor.is_authenticated else None
        if agent.project_id != thread.project_id:
            raise InvalidInput("The agent belongs to another project than the thread.", param="assistant_id")
        o = options
        effective_instructions = agent.instructions if o.instructions is None else o.instructions
        if o.additional_instructions:
            effective_instructions = f"{effective_instructions}\n\n{o.additional_instructions}".strip()
        for name, value in (
            ("max_prompt_tokens", o.max_prompt_tokens),
            ("max_completion_tokens", o.max_completion_tokens),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidInput(f"{name} must be a positive integer.", param=name)
        values = {
            "model": validation.validate_name(o.model or agent.model, param="model", required=True),
            "instructions": effective_instructions,
            "tools": tools_checked(agent.tools if o.tools is None else o.tools, project_id=thread.project_id),
            "temperature": validation.validate_range(
                agent.temperature if o.temperature is None else o.temperature, param="temperature", low=0, high=2
            ),
            "top_p": validation.validate_range(
                agent.top_p if o.top_p is None else o.top_p, param="top_p", low=0, high=1
            ),
            "max_prompt_tokens": o.max_prompt_tokens,
            "max_completion_tokens": o.max_completion_tokens,
            "truncation_strategy": validation.validate_truncation_strategy(o.truncation_strategy),
            "tool_choice": o.tool_choice,
            "response_format": validation.validate_response_format(
                agent.response_format if o.response_format is None else o.response_format
            ),
            "parallel_tool_calls": True if o.parallel_tool_calls is None else bool(o.parallel_tool_calls),
            "metadata": validation.validate_metadata(o.metadata),
        }
        now = timezone.now()
        try:
            with transaction.atomic():
                messages_add(thread=thread, items=o.additional_messages or [], param="additional_messages")
                run = Run.objects.create(
                    thread=thread,
                    agent=agent,
                    agent_ref=agent.id,
                    agent_version=agent.version,
                    connection_id=agent.connection_id,
                    expires_at=now + timedelta(seconds=settings.RUN_EXPIRY_SECONDS),
                    enqueued_at=now,
                    created_by=created_by,
                    principal=run_principal(actor_label, created_by),
                    **values,
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
                task_send(RUN_EXECUTE, run.id)
        except IntegrityError as exc:
            # The one-active-run-per-thread constraint: a concurrent run_create won the race.
            active = Run.objects.filter(thread=thread, status__in=ACTIVE_RUN_STATUSES).only("id").first()
            if active is None:
                raise
            raise Conflict(
                f"Thread {thread.id} already has an active run {active.id}.",
                param="thread_id",
                code="thread_has_active_run",
            ) from exc
        return run

    def run_cancel(self, *, run: Run, actor: Actor, actor_label: str) -> Run:
        now = timezone.now()
        with transaction.atomic():
            before = Run.objects.filter(pk=run.id).values_list("status", flat=True).first()
            target = None
            if run_transition(
                run.id, [RunStatus.QUEUED, RunStatus.REQUIRES_ACTION], RunStatus.CANCELLED, cancelled_at=now
            ):
                run_steps_close(run.id, RunStep.Status.CANCELLED, now)
                thread_run_touch(run.thread_id, RunStatus.CANCELLED, now)
                target = RunStatus.CANCELLED
            elif run_transition(run.id, [RunStatus.IN_PROGRESS], RunStatus.CANCELLING):
                thread_run_touch(run.thread_id, RunStatus.CANCELLING, now)
                target = RunStatus.CANCELLING
            if target is not None:
                audit_record(
                    action="run.cancel", actor=actor, actor_label=actor_label, object_type="run", object_id=run.id,
                    project_id=run.thread.project_id, before={"status": before}, after={"status": str(target)},
                )  # fmt: skip
        if target == RunStatus.CANCELLED:
            run_ended(run.id)
        run.refresh_from_db()
        if run.status not in (RunStatus.CANCELLED, RunStatus.CANCELLING):
            raise Conflict(f"Run {run.id} has already ended ({run.status}); it cannot be cancelled.", param="run_id")
        return run

    def run_submit_tool_outputs(
        self, *, run: Run, tool_outputs: list[dict[str, Any]], actor: Actor, actor_label: str
    ) -> Run:
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
            if not run_transition(
                run.id, [RunStatus.REQUIRES_ACTION], RunStatus.QUEUED, required_action=None, enqueued_at=now
            ):
                raise Conflict(f"Run {run.id} is no longer waiting for tool outputs.", param="run_id")
            step = RunStep.objects.select_for_update().get(run=run, type=RunStep.Type.TOOL_CALLS, status="in_progress")
            for call in step.step_details["tool_calls"]:
                call["function"]["output"] = outputs[call["id"]]
            step.status = RunStep.Status.COMPLETED
            step.completed_at = now
            step.save(update_fields=["step_details", "status", "completed_at"])
            tool_spans_record(run=run, step=step, outputs=outputs, actor=actor, actor_label=actor_label, now=now)
            thread_run_touch(run.thread_id, RunStatus.QUEUED, now)
            audit_record(
                action="run.submit_tool_outputs", actor=actor, actor_label=actor_label, object_type="run",
                object_id=run.id, project_id=run.thread.project_id,
                before={"status": RunStatus.REQUIRES_ACTION.value},
                after={"status": RunStatus.QUEUED.value, "tool_call_ids": sorted(outputs)},
            )  # fmt: skip
            task_send(RUN_EXECUTE, run.id)
        run.refresh_from_db()
        return run

    def agent_create(self, *, project: Project, fields: dict[str, Any], actor: Actor, actor_label: str) -> Agent:
        with transaction.atomic():
            agent = Agent.objects.create(project=project, version=1, **fields)
            _version_record(agent, actor)
            audit_record(
                action="agent.create", actor=actor, actor_label=actor_label, object_type="agent", object_id=agent.id,
                project=project, after=agent.snapshot(),
            )  # fmt: skip
        return agent

    def agent_update(self, *, agent: Agent, changed: dict[str, Any], actor: Actor, actor_label: str) -> Agent:
        with transaction.atomic():
            locked = Agent.objects.select_for_update().get(pk=agent.pk)
            before = locked.snapshot()
            for key, value in changed.items():
                setattr(locked, key, value)
            locked.version += 1
            locked.save(update_fields=[*changed, "version", "updated_at"])
            _version_record(locked, actor)
            old, new = changed_fields(before, locked.snapshot())
            audit_record(
                action="agent.update", actor=actor, actor_label=actor_label, object_type="agent",
                object_id=locked.id, project_id=locked.project_id, before={**old, "version": locked.version - 1},
                after={**new, "version": locked.version},
            )  # fmt: skip
        return locked

    def agent_delete(self, *, agent: Agent) -> None:
        agent.delete()

    def threads_delete(self, *, thread_ids: list[str]) -> tuple[list[str], list[dict[str, str]]]:
        return list(thread_ids), []


class MirroredStore:
    """A remote Foundry project: the remote first, then the mirror (services/remote.py). The remote keeps its own
    history of creates, updates and runs, so the mirror writes no audit record for those; deletes are audited by
    the core services, for mirrored objects as for local ones."""

    def message_create(
        self,
        *,
        thread: Thread,
        role: str,
        content: Any,
        attachments: list[dict[str, Any]] | None,
        metadata: dict[str, Any] | None,
        agent_id: str | None,
        run: Run | None,
        status: str,
    ) -> Message:
        if run is not None:  # a run writing its own reply: only local runs are executed here
            return LOCAL.message_create(
                thread=thread, role=role, content=content, attachments=attachments, metadata=metadata,
                agent_id=agent_id, run=run, status=status,
            )  # fmt: skip
        return remote.remote_message_create(thread=thread, content=content, role=role)

    def run_create(self, *, thread: Thread, agent: Agent, actor: Actor, actor_label: str, options: RunOptions) -> Run:
        return remote.remote_run_create(thread=thread, agent=agent, **options.as_dict())

    def run_cancel(self, *, run: Run, actor: Actor, actor_label: str) -> Run:
        return remote.remote_run_cancel(run=run)

    def run_submit_tool_outputs(
        self, *, run: Run, tool_outputs: list[dict[str, Any]], actor: Actor, actor_label: str
    ) -> Run:
        return remote.remote_run_submit_tool_outputs(run=run, tool_outputs=tool_outputs)

    def agent_create(self, *, project: Project, fields: dict[str, Any], actor: Actor, actor_label: str) -> Agent:
        return remote.remote_agent_create(remote=RemoteProject.objects.get(project=project), **_remote_fields(fields))

    def agent_update(self, *, agent: Agent, changed: dict[str, Any], actor: Actor, actor_label: str) -> Agent:
        return remote.remote_agent_update(agent=agent, **_remote_fields(changed))

    def agent_delete(self, *, agent: Agent) -> None:
        remote.remote_agent_delete(agent=agent)

    def threads_delete(self, *, thread_ids: list[str]) -> tuple[list[str], list[dict[str, str]]]:
        # HTTP calls: callers run this before, and outside, the transaction that deletes the local rows.
        return remote.remote_threads_delete_remote_first(thread_ids=thread_ids)


def _remote_fields(cleaned: dict[str, Any]) -> dict[str, Any]:
    # A remote project's agents run on the remote, so a local connection means nothing there.
    if cleaned.get("connection") is not None:
        raise InvalidInput("Agents of a remote Foundry project run there and take no connection.", param="connection")
    return {k: v for k, v in cleaned.items() if k != "connection"}


def _version_record(agent: Agent, actor: Actor) -> None:
    AgentVersion.objects.create(
        agent=agent,
        version=agent.version,
        definition=agent.snapshot(),
        created_by=actor if isinstance(actor, get_user_model()) else None,
    )


LOCAL: ProjectStore = LocalStore()
MIRRORED: ProjectStore = MirroredStore()
