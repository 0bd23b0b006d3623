"""Acting on remote Foundry projects: connections, syncs, agents, messages, runs, and remote-first deletion.

Every action goes to the remote first and mirrors the answer locally, so the local row never claims what the
remote did not do. Remote failures surface as ``RemoteFailed`` (a ServiceError naming the remote's error), and
nothing local has changed when one is raised.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from agents_admin.errors import Conflict, InvalidInput, ServiceError
from agents_admin.lib.sealed import seal
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    AGENT_FIELDS,
    TERMINAL_RUN_STATUSES,
    Agent,
    Message,
    Project,
    RemoteProject,
    Run,
    RunStatus,
    SyncRecord,
    Thread,
)
from agents_admin.remote.connection import remote_client
from agents_admin.remote.foundry import FoundryError, FoundryNotFound, is_conversation_id
from agents_admin.services.audit import Actor, audit_record, changed_fields
from agents_admin.services.dispatch import REMOTE_RUN_FOLLOW, REMOTE_SYNC, task_send
from agents_admin.services.remote_sync import (
    AgentLookup,
    agent_mirror,
    message_cursor,
    message_mirror,
    run_mirror,
    step_mirror,
    syncs_reap,
    thread_mirror,
    thread_summary_refresh,
)
from agents_admin.validation import endpoint_host, validate_secret_env

logger = logging.getLogger(__name__)

# A follower that has not written its heartbeat for this long is presumed gone; another may take over.
FOLLOW_LEASE_SECONDS = 60


class RemoteFailed(ServiceError):
    """The remote refused or failed the action; nothing was changed locally."""

    status = 502
    code = "remote_error"

    def __init__(self, error: FoundryError, *, action: str) -> None:
        super().__init__(f"{action} failed on the remote: {error}", code="remote_error")
        self.error = error


def _remote_of(obj: Agent | Thread | Run) -> RemoteProject:
    if obj.remote_project_id is None or obj.remote_id is None:
        raise Conflict(f"{obj.pk} is not mirrored from a remote project.", param="id")
    remote = obj.remote_project
    assert remote is not None
    return remote


# --- connections -----------------------------------------------------------------------------------------------


def _endpoint_clean(endpoint: str) -> str:
    endpoint = endpoint.strip().rstrip("/")
    parts = urlsplit(endpoint)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise InvalidInput("The endpoint must be an https URL (http only for 127.0.0.1/localhost).", param="endpoint")
    if "/api/projects/" not in parts.path:
        raise InvalidInput(
            "The endpoint is the project endpoint: https://<resource>.services.ai.azure.com/api/projects/<project>.",
            param="endpoint",
        )
    return endpoint


def remote_project_create(
    *, name: str, endpoint: str, secret: str = "", actor: Actor = None, **fields: Any
) -> RemoteProject:
    """A connection plus the local project its mirrored objects live in (``remote-<name>``). The secret is
    stored sealed (agents_admin.lib.sealed), like model connection secrets."""
    endpoint = _endpoint_clean(endpoint)
    if "secret_env" in fields:
        fields["secret_env"] = validate_secret_env(fields["secret_env"], param="secret_env")
    local_name = f"remote-{name}"[:64]
    with transaction.atomic():
        if RemoteProject.objects.filter(name=name).exists() or Project.objects.filter(name=local_name).exists():
            raise InvalidInput(f"A remote project named '{name}' exists already.", param="name")
        project = Project.objects.create(name=local_name, display_name=f"{name} (Foundry)")
        remote = RemoteProject.objects.create(
            name=name, endpoint=endpoint, secret=seal(secret.strip()), project=project, **fields
        )
        audit_record(
            action="remote_project.create", actor=actor, object_type="remote_project", object_id=remote.pk,
            project_id=project.pk, after=_audit_view(remote),
        )  # fmt: skip
    return remote


def remote_project_update(
    *, remote: RemoteProject, secret: str = "", actor: Actor = None, **fields: Any
) -> RemoteProject:
    """Change a connection. An empty ``secret`` keeps the stored one (it is write-only: never shown back)."""
    before = _audit_view(remote)
    old_host = endpoint_host(remote.endpoint)
    if "endpoint" in fields:
        fields["endpoint"] = _endpoint_clean(fields["endpoint"])
    if "secret_env" in fields:
        fields["secret_env"] = validate_secret_env(fields["secret_env"], param="secret_env")
    for name, value in fields.items():
        setattr(remote, name, value)
    if endpoint_host(remote.endpoint) != old_host:
        remote.secret = ""  # the stored secret was given for the old host; a new one typed now is kept below
    if secret.strip():
        remote.secret = seal(secret.strip())
    with transaction.atomic():
        remote.save()
        old, new = changed_fields(before, _audit_view(remote))
        if secret.strip():
            old["secret"], new["secret"] = before["secret"], "(replaced)"
        if new:
            audit_record(
                action="remote_project.update", actor=actor, object_type="remote_project", object_id=remote.pk,
                project_id=remote.project_id, before=old, after=new,
            )  # fmt: skip
    return remote


def _audit_view(remote: RemoteProject) -> dict[str, Any]:
    """What the audit log keeps of a remote project: its settings, and only whether a secret is set, never it."""
    return {
        "name": remote.name,
        "endpoint": remote.endpoint,
        "auth_kind": remote.auth_kind,
        "tenant_id": remote.tenant_id,
        "client_id": remote.client_id,
        "secret": "(set)" if remote.secret else "",
        "secret_env": remote.secret_env,
        "enabled": remote.enabled,
        "sync_interval_minutes": remote.sync_interval_minutes,
    }


def remote_project_test(*, remote: RemoteProject, actor: Actor = None) -> str:
    """One authenticated call; returns the success summary or raises RemoteFailed with the exact error.
    Audited as ``remote_project.test`` with the outcome (the call sends the stored credential to the endpoint)."""
    try:
        summary = remote_client(remote).check()
    except FoundryError as exc:
        code = exc.code or type(exc).__name__
        _test_audit(remote, actor=actor, ok=False, status=exc.status, code=code)
        # Status and code only: the remote's message is whatever the server at an admin-chosen URL said.
        answered = f"HTTP {exc.status}, " if exc.status else "no answer, "
        failure = RemoteFailed(exc, action="Test connection")
        failure.message = f"Test connection failed ({answered}{code})."
        raise failure from exc
    _test_audit(remote, actor=actor, ok=True, status=200, code="")
    return summary


def _test_audit(remote: RemoteProject, *, actor: Actor, ok: bool, status: int | None, code: str) -> None:
    audit_record(
        action="remote_project.test", actor=actor, object_type="remote_project", object_id=remote.pk,
        project_id=remote.project_id, after={"endpoint": remote.endpoint, "ok": ok, "status": status, "code": code},
    )  # fmt: skip


def remote_sync_start(*, remote: RemoteProject, mode: str = SyncRecord.Mode.FULL, actor: Any = None) -> SyncRecord:
    """Queue a sync (the task is sent after commit). Conflict when one is already queued or running."""
    if not remote.enabled:
        raise Conflict(f"Remote project {remote.name} is disabled.", param="enabled")
    try:
        with transaction.atomic():
            record = SyncRecord.objects.create(remote_project=remote, mode=mode, requested_by=actor)
            audit_record(
                action="remote_project.sync", actor=actor, object_type="remote_project", object_id=remote.pk,
                project_id=remote.project_id, after={"sync": record.pk, "mode": mode},
            )  # fmt: skip
            task_send(REMOTE_SYNC, record.pk)
    except IntegrityError:
        raise Conflict(f"A sync of {remote.name} is already running.", param="remote_project") from None
    return record


def remote_syncs_due(*, now: datetime | None = None) -> int:
    """Beat: start the syncs that are due (full when the last full one is old), and re-follow orphaned runs."""
    now = now or timezone.now()
    syncs_reap(now=now)
    started = 0
    for remote in RemoteProject.objects.filter(enabled=True):
        due = remote.last_sync_at is None or remote.last_sync_at <= now - timedelta(
            minutes=remote.sync_interval_minutes
        )
        if not due or SyncRecord.objects.filter(remote_project=remote, status__in=SyncRecord.ACTIVE).exists():
            continue
        full_due = remote.last_full_sync_at is None or remote.last_full_sync_at <= now - timedelta(
            hours=settings.REMOTE_FULL_SYNC_HOURS
        )
        try:
            remote_sync_start(remote=remote, mode=SyncRecord.Mode.FULL if full_due else SyncRecord.Mode.INCREMENTAL)
            started += 1
        except Conflict:
            continue
    stale = now - timedelta(seconds=FOLLOW_LEASE_SECONDS)
    orphans = Run.objects.filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True),
        remote_project__isnull=False,
        status__in=[RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.CANCELLING],
        created_at__lt=stale,
    ).values_list("pk", flat=True)
    for run_id in list(orphans[:200]):
        task_send(REMOTE_RUN_FOLLOW, run_id)
    return started


# --- agents ------------------------------------------------------------------------------------------------------


def _agent_body(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(AGENT_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown agent field '{sorted(unknown)[0]}'.", param=sorted(unknown)[0])
    return {k: v for k, v in fields.items() if v is not None}


def remote_agent_create(*, remote: RemoteProject, **fields: Any) -> Agent:
    if not fields.get("model"):
        raise InvalidInput("An agent needs a model (the deployment name).", param="model")
    try:
        obj = remote_client(remote).agent_create(_agent_body(fields))
    except FoundryError as exc:
        raise RemoteFailed(exc, action="Creating the agent") from exc
    agent, _ = agent_mirror(remote, obj)
    return agent


def remote_agent_update(*, agent: Agent, **fields: Any) -> Agent:
    remote = _remote_of(agent)
    assert agent.remote_id is not None
    try:
        obj = remote_client(remote).agent_update(agent.remote_id, _agent_body(fields))
    except FoundryError as exc:
        raise RemoteFailed(exc, action="Updating the agent") from exc
    agent, _ = agent_mirror(remote, obj)
    return agent


def remote_agent_delete(*, agent: Agent) -> None:
    """Delete on the remote, then the mirror. A remote that no longer has it counts as deleted."""
    remote = _remote_of(agent)
    assert agent.remote_id is not None
    try:
        remote_client(remote).agent_delete(agent.remote_id)
    except FoundryNotFound:
        pass
    except FoundryError as exc:
        raise RemoteFailed(exc, action="Deleting the agent") from exc
    agent.delete()


# --- threads and messages --------------------------------------------------------------------------------------


def remote_thread_create(*, remote: RemoteProject, metadata: dict[str, Any] | None = None) -> Thread:
    try:
        obj = remote_client(remote).thread_create({"metadata": metadata or {}})
    except FoundryError as exc:
        raise RemoteFailed(exc, action="Creating the thread") from exc
    return thread_mirror(remote, obj)


def remote_message_create(*, thread: Thread, content: Any, role: str = "user") -> Message:
    """Add a message on the remote (a string, or input content blocks as the wire takes them), then mirror it."""
    remote = _remote_of(thread)
    assert thread.remote_id is not None
    if role not in ("user", "assistant"):
        raise InvalidInput("role must be 'user' or 'assistant'.", param="role")
    if not ((isinstance(content, str) and content.strip()) or (isinstance(content, list) and content)):
        raise InvalidInput("Message content must be a string or a non-empty list of content blocks.", param="content")
    try:
        obj = remote_client(remote).message_create(thread.remote_id, {"role": role, "content": content})
    except FoundryError as exc:
        raise RemoteFailed(exc, action="Adding the message") from exc
    with transaction.atomic():
        message_mirror(thread, obj, AgentLookup(remote), {})
        thread_summary_refresh(thread)
    return Message.objects.get(remote_project=remote, remote_id=obj["id"])


def remote_thread_delete(*, thread: Thread) -> None:
    """Delete a mirrored thread on the remote first, then locally (children included).

    On a remote failure nothing local changes and ``RemoteFailed`` is raised (its message names the remote's
    error, for the purge report): a thread is never half-deleted. A thread the remote no longer has (404) is
    deleted locally. Refused (Conflict) while a run is active, like a local thread.
    """
    remote = _remote_of(thread)
    assert thread.remote_id is not None
    active = Run.objects.filter(thread=thread, status__in=ACTIVE_RUN_STATUSES).values_list("pk", flat=True).first()
    if active is not None:
        raise Conflict(
            f"Thread {thread.pk} has an active run {active}; cancel it before deleting.",
            param="thread_id",
            code="thread_has_active_run",
        )
    try:
        remote_client(remote).thread_delete(thread.remote_id)
    except FoundryNotFound:
        logger.info("thread %s (%s) was already gone on the remote", thread.pk, thread.remote_id)
    except FoundryError as exc:
        raise RemoteFailed(exc, action=f"Deleting thread {thread.pk}") from exc
    with transaction.atomic():
        thread.delete()


def remote_threads_delete_remote_first(*, thread_ids: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The mirrored store's ``threads_delete`` (services/stores.py): DELETE the mirrored threads among
    ``thread_ids`` on their remotes.

    Returns ``(deletable, failures)``: ``deletable`` is every id the caller may now delete locally (local
    threads, and mirrored ones the remote deleted or no longer had); ``failures`` lists the others as
    ``{"thread_id", "remote_project", "remote_id", "error"}`` for the purge report. Call it *before* the local
    batch delete and outside its transaction (these are HTTP calls); a failed thread is left entirely in place.
    If the local delete then fails, the next purge finds the thread gone remotely (404) and deletes it locally.
    """
    deletable: list[str] = []
    failures: list[dict[str, str]] = []
    mirrored = {
        t.pk: t
        for t in Thread.objects.filter(pk__in=thread_ids, remote_project__isnull=False).select_related("remote_project")
    }
    for thread_id in thread_ids:
        thread = mirrored.get(thread_id)
        if thread is None:
            deletable.append(thread_id)
            continue
        assert thread.remote_project is not None and thread.remote_id is not None
        try:
            client = remote_client(thread.remote_project)
            if is_conversation_id(thread.remote_id):
                client.conversation_delete(thread.remote_id)
            else:
                client.thread_delete(thread.remote_id)
        except FoundryNotFound:
            pass
        except FoundryError as exc:
            failures.append(
                {
                    "thread_id": thread_id,
                    "remote_project": thread.remote_project.name,
                    "remote_id": thread.remote_id,
                    "error": str(exc),
                }
            )
            continue
        deletable.append(thread_id)
    return deletable, failures


# --- runs -----------------------------------------------------------------------------------------------------------


RUN_OVERRIDES = (
    "model",
    "instructions",
    "additional_instructions",
    "additional_messages",
    "tools",
    "temperature",
    "top_p",
    "max_prompt_tokens",
    "max_completion_tokens",
    "truncation_strategy",
    "tool_choice",
    "response_format",
    "parallel_tool_calls",
    "metadata",
)


def remote_run_create(*, thread: Thread, agent: Agent, **overrides: Any) -> Run:
    """Start a run on the remote, mirror it, and have a worker follow it to its end (after commit).

    ``overrides`` are CreateRun fields (ref §2.2); None values are not sent.
    """
    remote = _remote_of(thread)
    if agent.remote_project_id != remote.pk or agent.remote_id is None:
        raise InvalidInput("The agent must live in the same remote project as the thread.", param="assistant_id")
    unknown = set(overrides) - set(RUN_OVERRIDES)
    if unknown:
        raise InvalidInput(f"Unknown run field '{sorted(unknown)[0]}'.", param=sorted(unknown)[0])
    assert thread.remote_id is not None
    body: dict[str, Any] = {"assistant_id": agent.remote_id}
    body.update({k: v for k, v in overrides.items() if v is not None})
    try:
        obj = remote_client(remote).run_create(thread.remote_id, body)
    except FoundryError as exc:
        raise RemoteFailed(exc, action="Starting the run") from exc
    with transaction.atomic():
        run, _ = run_mirror(thread, obj, AgentLookup(remote))
        thread_summary_refresh(thread)
        task_send(REMOTE_RUN_FOLLOW, run.pk)
    return run


def remote_run_cancel(*, run: Run) -> Run:
    remote = _remote_of(run)
    if run.is_terminal:
        raise Conflict(f"Run {run.pk} has already ended ({run.status}); it cannot be cancelled.", param="run_id")
    assert run.remote_id is not None
    try:
        obj = remote_client(remote).run_cancel(run.thread.remote_id or "", run.remote_id)
    except FoundryError as exc:
        raise RemoteFailed(exc, action="Cancelling the run") from exc
    run, _ = run_mirror(run.thread, obj, AgentLookup(remote))
    thread_summary_refresh(run.thread)
    task_send(REMOTE_RUN_FOLLOW, run.pk)
    return run


def remote_run_submit_tool_outputs(*, run: Run, tool_outputs: list[dict[str, Any]]) -> Run:
    remote = _remote_of(run)
    if run.status != RunStatus.REQUIRES_ACTION:
        raise Conflict(f"Run {run.pk} is {run.status}, not waiting for tool outputs.", param="run_id")
    pending = {str(call.get("id")) for call in run.pending_tool_calls}
    given = {str(item.get("tool_call_id")) for item in tool_outputs if isinstance(item, dict)}
    if given != pending:
        raise InvalidInput("Give exactly one output for every pending tool call.", param="tool_outputs")
    assert run.remote_id is not None
    try:
        obj = remote_client(remote).run_submit_tool_outputs(run.thread.remote_id or "", run.remote_id, tool_outputs)
    except FoundryError as exc:
        raise RemoteFailed(exc, action="Submitting tool outputs") from exc
    with transaction.atomic():
        run, _ = run_mirror(run.thread, obj, AgentLookup(remote))
        thread_summary_refresh(run.thread)
        task_send(REMOTE_RUN_FOLLOW, run.pk)
    return run


def remote_run_follow(*, run_id: str) -> None:
    """In a worker: poll the remote run with backoff until it ends or waits for tool outputs, mirroring each
    status into the local Run row (what the console's live status reads). At the end, the thread's messages,
    runs and steps are synced.

    Idempotent: a lease on ``heartbeat_at`` lets one follower work at a time; a redelivered or duplicate task
    finds the lease held (or the run settled) and returns. After the time budget it hands over to a new task.
    """
    now = timezone.now()
    lease = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - timedelta(seconds=FOLLOW_LEASE_SECONDS))
    if not Run.objects.filter(lease, pk=run_id, remote_project__isnull=False).update(heartbeat_at=now):
        return
    run = Run.objects.select_related("thread", "remote_project").get(pk=run_id)
    remote = run.remote_project
    assert remote is not None and run.remote_id is not None and run.thread.remote_id is not None
    client = remote_client(remote)
    agents = AgentLookup(remote)
    deadline = time.monotonic() + settings.REMOTE_RUN_FOLLOW_BUDGET_SECONDS
    delay = settings.REMOTE_POLL_INITIAL_SECONDS
    try:
        while run.status not in TERMINAL_RUN_STATUSES and run.status != RunStatus.REQUIRES_ACTION:
            if time.monotonic() > deadline:
                Run.objects.filter(pk=run.pk).update(heartbeat_at=None)
                task_send(REMOTE_RUN_FOLLOW, run.pk)
                return
            time.sleep(delay)
            delay = min(delay * 1.5, settings.REMOTE_POLL_MAX_SECONDS)
            try:
                obj = client.run_get(run.thread.remote_id, run.remote_id)
            except FoundryError as exc:
                if not exc.transient:
                    raise
                logger.info("run %s: polling failed (%s); trying again", run.pk, exc)
                continue
            if obj.get("status") in TERMINAL_RUN_STATUSES or obj.get("status") == RunStatus.REQUIRES_ACTION:
                run = _run_settle(client, run, obj, agents)
                break
            run, outcome = run_mirror(run.thread, obj, agents)
            Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
            if outcome != "unchanged":
                failed = {"has_failed_run": True} if run.status == RunStatus.FAILED else {}
                Thread.objects.filter(pk=run.thread_id).update(last_run_status=run.status, **failed)
    except FoundryNotFound:
        logger.warning("run %s is gone on the remote", run.pk)
    except FoundryError as exc:
        logger.warning("run %s: following stopped: %s", run.pk, exc)
    finally:
        Run.objects.filter(pk=run.pk).update(heartbeat_at=None)


def _run_settle(client: Any, run: Run, obj: dict[str, Any], agents: AgentLookup) -> Run:
    """The run reached a resting state: mirror its messages and steps, and only then its status, in one
    transaction, so whoever sees "completed" also sees the reply (the remote calls happen before it)."""
    thread = run.thread
    assert thread.remote_id is not None and run.remote_id is not None
    messages = list(client.messages(thread.remote_id, after=message_cursor(thread)))
    steps = list(client.run_steps(thread.remote_id, run.remote_id))
    runs: dict[str, Run | None] = {run.remote_id: run}
    with transaction.atomic():
        for message in messages:
            message_mirror(thread, message, agents, runs)
        for step in steps:
            step_mirror(run, step)
        run, _ = run_mirror(thread, obj, agents)
        thread_summary_refresh(thread)
    return run
