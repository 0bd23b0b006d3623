"""Mirroring a remote Foundry project into the local database: agents, threads, messages, runs and run steps.

Mirrored rows are ordinary Agent/Thread/Message/Run/RunStep rows in the remote's local project, with
``remote_project`` and ``remote_id`` set, so every console page, the run panel's live status and retention
work on them unchanged. Local ids stay ours (a remote id could collide with one of ours, or with another
project's: pointing a connection at our own API would do exactly that).

Incremental by construction:
- agents: one listing (they are few), upserts of what changed, deletions detected;
- threads: listed newest first; an incremental sync stops at the first page older than the last sync; a full
  sync reads them all and marks the ones that disappeared as deleted on the remote (``remote_deleted_at``);
- messages and runs: per thread, from the cursor of the last mirrored, settled object (``after=<remote id>``);
  runs still active locally are re-read one by one; steps are read for runs that changed.
Idempotent: running a sync twice gives the same rows (upserts keyed by (remote_project, remote_id)).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from agents_admin.lib.v2_definitions import definition_fields
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    Agent,
    AgentVersion,
    Message,
    RemoteProject,
    Run,
    RunStatus,
    RunStep,
    SyncRecord,
    Thread,
)
from agents_admin.remote.connection import remote_client
from agents_admin.remote.foundry import (
    FoundryAuthError,
    FoundryClient,
    FoundryError,
    FoundryNotFound,
    is_conversation_id,
)
from agents_admin.services.thread_titles import metadata_title, thread_title_on_message, thread_titles_refresh

logger = logging.getLogger(__name__)

MAX_RECORDED_ERRORS = 50
# How far back an incremental sync looks before the last sync started (clock skew, late writes).
WATERMARK_SKEW = timedelta(minutes=10)
THREAD_BATCH = 200
# A sync that wrote no progress for this long lost its worker (each thread writes progress, so this is generous).
SYNC_STALE = timedelta(minutes=15)


def ts(value: Any) -> datetime | None:
    """A wire timestamp (int Unix seconds, ref §4) as an aware datetime."""
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def _text_of(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    return "\n".join(
        str((part.get("text") or {}).get("value", ""))
        for part in content
        if isinstance(part, dict) and part.get("type") == "text"
    )


# --- upserts: one remote object onto its local row ---------------------------------------------------------


def agent_mirror(remote: RemoteProject, obj: dict[str, Any]) -> tuple[Agent, str]:
    """Create or update the local mirror of a remote agent; returns it and "created"/"updated"/"unchanged"."""
    fields = {
        "name": obj.get("name") or "",
        "description": obj.get("description") or "",
        "model": obj.get("model") or "",
        "instructions": obj.get("instructions") or "",
        "tools": obj.get("tools") or [],
        "tool_resources": obj.get("tool_resources"),
        "temperature": obj.get("temperature"),
        "top_p": obj.get("top_p"),
        "response_format": obj.get("response_format"),
        "metadata": obj.get("metadata") or {},
        "remote_deleted_at": None,
    }
    agent = Agent.objects.filter(remote_project=remote, remote_id=obj["id"]).first()
    if agent is None:
        with transaction.atomic():
            agent = Agent.objects.create(
                project_id=remote.project_id, remote_project=remote, remote_id=obj["id"], version=1, **fields
            )
            AgentVersion.objects.create(agent=agent, version=1, definition=agent.snapshot())
        created_at = ts(obj.get("created_at"))
        if created_at:
            Agent.objects.filter(pk=agent.pk).update(created_at=created_at)
        return agent, "created"
    changed = [name for name, value in fields.items() if getattr(agent, name) != value]
    if not changed:
        return agent, "unchanged"
    # A change seen on the remote is a new version here too, so the versions page tells the agent's history.
    with transaction.atomic():
        agent = Agent.objects.select_for_update().get(pk=agent.pk)
        for name in changed:
            setattr(agent, name, fields[name])
        agent.version += 1
        agent.save(update_fields=[*changed, "version", "updated_at"])
        AgentVersion.objects.create(agent=agent, version=agent.version, definition=agent.snapshot())
    return agent, "updated"


def thread_mirror(remote: RemoteProject, obj: dict[str, Any]) -> Thread:
    thread = Thread.objects.filter(remote_project=remote, remote_id=obj["id"]).first()
    if thread is not None:
        return thread
    thread = Thread.objects.create(
        project_id=remote.project_id,
        remote_project=remote,
        remote_id=obj["id"],
        metadata=obj.get("metadata") or {},
        tool_resources=obj.get("tool_resources"),
        title=metadata_title(obj.get("metadata")),
    )
    created_at = ts(obj.get("created_at")) or timezone.now()
    Thread.objects.filter(pk=thread.pk).update(created_at=created_at, last_activity_at=created_at)
    thread.created_at = thread.last_activity_at = created_at
    return thread


class AgentLookup:
    """Remote assistant id -> local agent, looked up once per id per sync."""

    def __init__(self, remote: RemoteProject) -> None:
        self.remote = remote
        self._cache: dict[str, Agent | None] = {}

    def get(self, remote_id: str | None) -> Agent | None:
        if not remote_id:
            return None
        if remote_id not in self._cache:
            self._cache[remote_id] = Agent.objects.filter(remote_project=self.remote, remote_id=remote_id).first()
        return self._cache[remote_id]


def run_fields(obj: dict[str, Any], agents: AgentLookup) -> dict[str, Any]:
    agent = agents.get(obj.get("assistant_id"))
    usage = obj.get("usage") or {}
    created = ts(obj.get("created_at")) or timezone.now()
    return {
        "agent": agent,
        "agent_ref": (agent.pk if agent else str(obj.get("assistant_id") or ""))[:40],
        "agent_version": agent.version if agent else 1,
        "status": obj.get("status") or "queued",
        "model": obj.get("model") or "",
        "instructions": obj.get("instructions") or "",
        "tools": obj.get("tools") or [],
        "temperature": obj.get("temperature"),
        "top_p": obj.get("top_p"),
        "max_prompt_tokens": obj.get("max_prompt_tokens"),
        "max_completion_tokens": obj.get("max_completion_tokens"),
        "truncation_strategy": obj.get("truncation_strategy"),
        "tool_choice": obj.get("tool_choice"),
        "response_format": obj.get("response_format"),
        "parallel_tool_calls": bool(obj.get("parallel_tool_calls", True)),
        "metadata": obj.get("metadata") or {},
        "required_action": obj.get("required_action"),
        "last_error": obj.get("last_error"),
        "incomplete_details": obj.get("incomplete_details"),
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "started_at": ts(obj.get("started_at")),
        "completed_at": ts(obj.get("completed_at")),
        "failed_at": ts(obj.get("failed_at")),
        "cancelled_at": ts(obj.get("cancelled_at")),
        # Non-null locally; the remote nulls it once the run is terminal.
        "expires_at": ts(obj.get("expires_at")) or created,
    }


def run_mirror(thread: Thread, obj: dict[str, Any], agents: AgentLookup) -> tuple[Run, str]:
    """Create or update a run's mirror. A terminal local run never changes again (the state machine's rule)."""
    remote = thread.remote_project
    assert remote is not None
    fields = run_fields(obj, agents)
    run = Run.objects.filter(remote_project=remote, remote_id=obj["id"]).first()
    if run is None:
        try:
            with transaction.atomic():
                run = Run.objects.create(thread=thread, remote_project=remote, remote_id=obj["id"], **fields)
        except IntegrityError:
            # Mirrored at the same moment by the web request that started it, or by a follower: update that one.
            run = Run.objects.filter(remote_project=remote, remote_id=obj["id"]).first()
            if run is None:
                raise
        else:
            Run.objects.filter(pk=run.pk).update(created_at=ts(obj.get("created_at")) or run.created_at)
            return run, "created"
    if run.status in TERMINAL_RUN_STATUSES:
        return run, "unchanged"
    changed = [name for name, value in fields.items() if getattr(run, name) != value]
    if not changed:
        return run, "unchanged"
    # Conditional on the status we read, so a concurrent follower and a sync cannot interleave transitions.
    updated = Run.objects.filter(pk=run.pk, status=run.status).update(**{name: fields[name] for name in changed})
    if updated:
        for name in changed:
            setattr(run, name, fields[name])
    else:
        run.refresh_from_db()
    return run, "updated" if updated else "unchanged"


def _message_fields(obj: dict[str, Any]) -> dict[str, Any]:
    content = obj.get("content") or []
    return {
        "role": obj.get("role") or "user",
        "content": content,
        "text": _text_of(content),
        "attachments": obj.get("attachments") or [],
        "metadata": obj.get("metadata") or {},
        "status": obj.get("status") or "completed",
        "incomplete_details": obj.get("incomplete_details"),
        "completed_at": ts(obj.get("completed_at")),
    }


def message_mirror(thread: Thread, obj: dict[str, Any], agents: AgentLookup, runs: dict[str, Run | None]) -> str:
    remote = thread.remote_project
    assert remote is not None
    fields = _message_fields(obj)
    existing = Message.objects.filter(remote_project=remote, remote_id=obj["id"]).first()
    if existing is not None:
        changed = {name: value for name, value in fields.items() if getattr(existing, name) != value}
        if changed:
            Message.objects.filter(pk=existing.pk).update(**changed)
            return "updated"
        return "unchanged"
    run_remote_id = obj.get("run_id")
    if run_remote_id and run_remote_id not in runs:
        runs[run_remote_id] = Run.objects.filter(remote_project=remote, remote_id=run_remote_id).first()
    # A sync and a run follower may mirror the same thread at once: the unique constraints decide, and the
    # loser either finds the message there (unchanged) or takes the next free seq.
    for _ in range(3):
        seq = (Message.objects.filter(thread=thread).aggregate(m=Max("seq"))["m"] or 0) + 1
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    thread=thread,
                    seq=seq,
                    remote_project=remote,
                    remote_id=obj["id"],
                    agent=agents.get(obj.get("assistant_id")),
                    run=runs.get(run_remote_id) if run_remote_id else None,
                    **fields,
                )
        except IntegrityError:
            if Message.objects.filter(remote_project=remote, remote_id=obj["id"]).exists():
                return "unchanged"
            continue
        Message.objects.filter(pk=message.pk).update(created_at=ts(obj.get("created_at")) or message.created_at)
        thread_title_on_message(thread, role=message.role, text=message.text)
        return "created"
    raise FoundryError(f"message {obj['id']} could not be given a position in thread {thread.pk}")


def messages_page_mirror(
    thread: Thread, page: list[dict[str, Any]], agents: AgentLookup, runs: dict[str, Run | None], counts: Counts
) -> None:
    """A page of messages in a few queries (a first sync of a big project inserts millions): one lookup,
    one bulk insert with consecutive seqs, one bulk update of created_at. If a follower mirrors the same
    thread at that moment the insert conflicts, and the page falls back to one message at a time."""
    remote = thread.remote_project
    assert remote is not None
    existing = set(
        Message.objects.filter(remote_project=remote, remote_id__in=[o["id"] for o in page]).values_list(
            "remote_id", flat=True
        )
    )
    for obj in page:
        if obj["id"] in existing:
            counts.add("messages", message_mirror(thread, obj, agents, runs))
    fresh = [obj for obj in page if obj["id"] not in existing]
    if not fresh:
        return
    missing_runs = {o["run_id"] for o in fresh if o.get("run_id") and o["run_id"] not in runs}
    for run in Run.objects.filter(remote_project=remote, remote_id__in=missing_runs):
        runs[str(run.remote_id)] = run
    try:
        with transaction.atomic():
            base = Message.objects.filter(thread=thread).aggregate(m=Max("seq"))["m"] or 0
            rows = [
                Message(
                    thread=thread,
                    seq=base + offset,
                    remote_project=remote,
                    remote_id=obj["id"],
                    agent=agents.get(obj.get("assistant_id")),
                    run=runs.get(obj.get("run_id") or ""),
                    **_message_fields(obj),
                )
                for offset, obj in enumerate(fresh, start=1)
            ]
            Message.objects.bulk_create(rows)
            for row, obj in zip(rows, fresh, strict=True):
                row.created_at = ts(obj.get("created_at")) or row.created_at
            # bulk_update writes the attribute values as they are (auto_now_add applies only on insert).
            Message.objects.bulk_update(rows, ["created_at"])
    except IntegrityError:
        for obj in fresh:
            counts.add("messages", message_mirror(thread, obj, agents, runs))
        return
    if thread.title is None:
        thread_titles_refresh(Thread.objects.filter(pk=thread.pk, title__isnull=True))
    counts.add("messages", "created", len(rows))


def step_mirror(run: Run, obj: dict[str, Any]) -> str:
    remote = run.remote_project
    usage = obj.get("usage") or {}
    fields = {
        "type": obj.get("type") or "message_creation",
        "status": obj.get("status") or "in_progress",
        "step_details": obj.get("step_details") or {},
        "last_error": obj.get("last_error"),
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "completed_at": ts(obj.get("completed_at")),
        "cancelled_at": ts(obj.get("cancelled_at")),
        "failed_at": ts(obj.get("failed_at")),
        "expired_at": ts(obj.get("expired_at")),
    }
    existing = RunStep.objects.filter(remote_project=remote, remote_id=obj["id"]).first()
    if existing is None:
        try:
            with transaction.atomic():
                step = RunStep.objects.create(
                    run=run, thread_id=run.thread_id, remote_project=remote, remote_id=obj["id"], **fields
                )
        except IntegrityError:  # mirrored concurrently by a sync or a follower
            return "unchanged"
        RunStep.objects.filter(pk=step.pk).update(created_at=ts(obj.get("created_at")) or step.created_at)
        return "created"
    changed = {name: value for name, value in fields.items() if getattr(existing, name) != value}
    if changed:
        RunStep.objects.filter(pk=existing.pk).update(**changed)
        return "updated"
    return "unchanged"


def thread_summary_refresh(thread: Thread) -> None:
    """Recompute the denormalised columns the lists read (count, activity, last run) from the mirror rows."""
    last_message = Message.objects.filter(thread=thread).order_by("-seq").values("seq", "created_at").first()
    last_run = (
        Run.objects.filter(thread=thread)
        .order_by("-created_at", "-id")
        .values("status", "agent_id", "created_at")
        .first()
    )
    stamps = [thread.created_at]
    if last_message:
        stamps.append(last_message["created_at"])
    if last_run:
        stamps.append(last_run["created_at"])
    Thread.objects.filter(pk=thread.pk).update(
        message_count=last_message["seq"] if last_message else 0,
        last_activity_at=max(s for s in stamps if s is not None),
        last_run_status=last_run["status"] if last_run else "",
        last_agent_id=last_run["agent_id"] if last_run else None,
        has_failed_run=Run.objects.filter(thread=thread, status=RunStatus.FAILED).exists(),
    )


# --- per-thread sync -----------------------------------------------------------------------------------------


@dataclass
class Counts:
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, kind: str, outcome: str, n: int = 1) -> None:
        bucket = self.by_kind.setdefault(kind, {})
        bucket[outcome] = bucket.get(outcome, 0) + n


def message_cursor(thread: Thread) -> str | None:
    """The remote id to list messages after: the last mirrored message before any still in progress."""
    messages = Message.objects.filter(thread=thread, remote_id__isnull=False)
    first_open = (
        messages.filter(status=Message.Status.IN_PROGRESS).order_by("seq").values_list("seq", flat=True).first()
    )
    if first_open is not None:
        messages = messages.filter(seq__lt=first_open)
    return messages.order_by("-seq").values_list("remote_id", flat=True).first()


def thread_contents_sync(client: FoundryClient, thread: Thread, counts: Counts, agents: AgentLookup) -> None:
    """Bring one thread's runs, messages and steps up to date. Raises FoundryNotFound when the thread is gone."""
    assert thread.remote_id is not None
    if is_conversation_id(thread.remote_id):
        runs = _responses_sync(client, thread, counts, agents)
        _conversation_items_sync(client, thread, counts, agents, runs)
        thread_summary_refresh(thread)
        return
    changed_runs: list[Run] = []
    # Active runs first, one GET each: their status is what a person watches.
    for run in Run.objects.filter(thread=thread, status__in=ACTIVE_RUN_STATUSES, remote_id__isnull=False):
        assert run.remote_id is not None
        try:
            obj = client.run_get(thread.remote_id, run.remote_id)
        except FoundryNotFound:
            continue
        run, outcome = run_mirror(thread, obj, agents)
        counts.add("runs", outcome)
        if outcome != "unchanged":
            changed_runs.append(run)
    last_run = (
        Run.objects.filter(thread=thread, remote_id__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("remote_id", flat=True)
        .first()
    )
    for obj in client.runs(thread.remote_id, after=last_run):
        try:
            with transaction.atomic():
                run, outcome = run_mirror(thread, obj, agents)
        except IntegrityError as exc:  # e.g. two active runs seen at once on an inconsistent listing
            raise FoundryError(f"run {obj.get('id')} could not be stored: {exc}") from exc
        counts.add("runs", outcome)
        if outcome != "unchanged":
            changed_runs.append(run)
    runs: dict[str, Run | None] = {r.remote_id: r for r in changed_runs if r.remote_id}
    params = {"order": "asc", "limit": 100, "after": message_cursor(thread)}
    for page in client.iter_pages(f"/threads/{thread.remote_id}/messages", params=params):
        messages_page_mirror(thread, page, agents, runs, counts)
    for run in changed_runs:
        assert run.remote_id is not None
        for obj in client.run_steps(thread.remote_id, run.remote_id):
            counts.add("steps", step_mirror(run, obj))
    thread_summary_refresh(thread)


# --- the sync ------------------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, record: SyncRecord, counts: Counts) -> None:
        self.record = record
        self.counts = counts

    def save(self, *, phase: str | None = None, done: int | None = None, total: int | None = None) -> None:
        if phase is not None:
            self.record.phase = phase
        if done is not None:
            self.record.progress_done = done
        if total is not None:
            self.record.progress_total = total
        self.record.counts = self.counts.by_kind
        self.record.heartbeat_at = timezone.now()
        self.record.save(update_fields=["phase", "progress_done", "progress_total", "counts", "errors", "heartbeat_at"])

    def error(self, where: str, exc: Exception) -> None:
        logger.warning("sync %s: %s: %s", self.record.pk, where, exc)
        if len(self.record.errors) < MAX_RECORDED_ERRORS:
            self.record.errors.append({"where": where, "error": str(exc)})


def syncs_reap(*, now: datetime | None = None) -> int:
    """Fail syncs whose worker vanished (running, silent for SYNC_STALE) or whose task never came (queued as
    long): otherwise the one-active-sync constraint would block every later sync. Returns how many."""
    now = now or timezone.now()
    stale = now - SYNC_STALE
    lost = SyncRecord.objects.filter(
        Q(status=SyncRecord.Status.RUNNING, heartbeat_at__lt=stale)
        | Q(status=SyncRecord.Status.QUEUED, created_at__lt=stale)
    )
    return lost.update(
        status=SyncRecord.Status.FAILED,
        finished_at=now,
        phase="done",
        errors=[{"where": "sync", "error": "The worker stopped before the sync finished; a new sync will start."}],
    )


def remote_sync_execute(*, sync_id: int) -> None:
    """Run one queued sync to its end. A sync that is not queued is left alone (a redelivered task)."""
    now = timezone.now()
    if not SyncRecord.objects.filter(pk=sync_id, status=SyncRecord.Status.QUEUED).update(
        status=SyncRecord.Status.RUNNING, started_at=now, heartbeat_at=now
    ):
        return
    record = SyncRecord.objects.select_related("remote_project").get(pk=sync_id)
    remote = record.remote_project
    counts = Counts()
    progress = _Progress(record, counts)
    status = SyncRecord.Status.SUCCEEDED
    try:
        client = remote_client(remote)
        full = record.mode == SyncRecord.Mode.FULL
        _agents_sync(client, remote, counts, progress, now)
        _agents_v2_sync(client, remote, counts, progress)
        new_threads = _threads_sync(client, remote, counts, progress, full=full, now=now)
        new_conversations = _conversations_sync(client, remote, counts, progress)
        if new_threads is not None:
            new_threads |= new_conversations
        _contents_sync(client, remote, counts, progress, full=full, new_threads=new_threads, now=now)
        if record.errors:
            status = SyncRecord.Status.PARTIAL
    except FoundryError as exc:
        progress.error("sync", exc)
        status = SyncRecord.Status.FAILED
    except SoftTimeLimitExceeded:
        # What was mirrored stays; cursors live in the rows, so the next sync carries on from here.
        progress.error("sync", RuntimeError("The time budget ran out; the next sync continues from here."))
        status = SyncRecord.Status.PARTIAL
    except Exception as exc:  # record what happened, never leave the record "running"
        logger.exception("sync %s crashed", sync_id)
        progress.error("sync", RuntimeError(f"internal error: {type(exc).__name__}"))
        status = SyncRecord.Status.FAILED
    finished = timezone.now()
    record.status = status
    record.finished_at = finished
    record.counts = counts.by_kind
    record.phase = "done"
    record.save(update_fields=["status", "finished_at", "counts", "errors", "phase"])
    if status != SyncRecord.Status.FAILED:
        updates: dict[str, Any] = {"last_sync_at": now}
        if record.mode == SyncRecord.Mode.FULL:
            updates["last_full_sync_at"] = now
        RemoteProject.objects.filter(pk=remote.pk).update(**updates)


def _agents_sync(
    client: FoundryClient, remote: RemoteProject, counts: Counts, progress: _Progress, now: datetime
) -> None:
    progress.save(phase="agents", done=0, total=None)
    seen: set[str] = set()
    for obj in client.agents():
        seen.add(obj["id"])
        _, outcome = agent_mirror(remote, obj)
        counts.add("agents", outcome)
    gone = Agent.objects.filter(remote_project=remote, remote_deleted_at__isnull=True).exclude(remote_id__in=seen)
    counts.add("agents", "deleted", gone.update(remote_deleted_at=now))
    progress.save(done=len(seen))


def _threads_sync(
    client: FoundryClient, remote: RemoteProject, counts: Counts, progress: _Progress, *, full: bool, now: datetime
) -> set[str] | None:
    """Mirror new threads; returns the local pks created, or None when the remote cannot list threads."""
    progress.save(phase="threads", done=0, total=None)
    watermark = (remote.last_sync_at - WATERMARK_SKEW) if remote.last_sync_at and not full else None
    seen: set[str] = set()
    created: set[str] = set()
    try:
        for page in client.threads():
            ids = [obj["id"] for obj in page]
            known = set(
                Thread.objects.filter(remote_project=remote, remote_id__in=ids).values_list("remote_id", flat=True)
            )
            for obj in page:
                seen.add(obj["id"])
                if obj["id"] in known:
                    counts.add("threads", "unchanged")
                    continue
                thread = thread_mirror(remote, obj)
                created.add(thread.pk)
                counts.add("threads", "created")
            progress.save(done=len(seen))
            oldest = ts(page[-1].get("created_at"))
            if watermark and oldest and oldest < watermark:  # the rest is older: seen by an earlier sync
                break
    except FoundryNotFound as exc:
        # Some api-versions have no "list threads": fall back to the threads we know (checked one by one).
        progress.error("threads listing", exc)
        return None
    if full:
        gone = Thread.objects.filter(remote_project=remote, remote_deleted_at__isnull=True)
        missing = [pk for pk, rid in gone.values_list("pk", "remote_id").iterator(chunk_size=2000) if rid not in seen]
        for start in range(0, len(missing), 1000):
            Thread.objects.filter(pk__in=missing[start : start + 1000]).update(remote_deleted_at=now)
        counts.add("threads", "deleted", len(missing))
    return created


def _contents_sync(
    client: FoundryClient,
    remote: RemoteProject,
    counts: Counts,
    progress: _Progress,
    *,
    full: bool,
    new_threads: set[str] | None,
    now: datetime,
) -> None:
    threads = Thread.objects.filter(remote_project=remote, remote_deleted_at__isnull=True)
    if not full and new_threads is not None:
        hot = now - timedelta(days=settings.REMOTE_HOT_DAYS)
        threads = threads.filter(
            Q(pk__in=new_threads) | Q(last_activity_at__gte=hot) | Q(runs__status__in=ACTIVE_RUN_STATUSES)
        ).distinct()
    # Bounded memory: ids in keyset batches (by pk), each thread loaded on its own.
    total = threads.count()
    progress.save(phase="contents", done=0, total=total)
    agents = AgentLookup(remote)
    done = 0
    last = ""
    while True:
        batch = list(threads.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:THREAD_BATCH])
        if not batch:
            break
        last = batch[-1]
        for thread in Thread.objects.filter(pk__in=batch).select_related("remote_project").order_by("pk"):
            try:
                thread_contents_sync(client, thread, counts, agents)
            except FoundryNotFound:
                Thread.objects.filter(pk=thread.pk).update(remote_deleted_at=now)
                counts.add("threads", "deleted")
            except FoundryAuthError:
                raise
            except FoundryError as exc:
                progress.error(f"thread {thread.remote_id}", exc)
            done += 1
        progress.save(done=done)


# --- the v2 protocol: named agents with versions, conversations and their message items ----------------------


def _agents_v2_sync(client: FoundryClient, remote: RemoteProject, counts: Counts, progress: _Progress) -> None:
    """Mirror the remote's v2 agents with their versions. An agent the classic listing mirrored already (the same
    agent seen through both protocols: its ``agent_guid`` is its classic id) only takes its v2 name."""
    progress.save(phase="agents (v2)", done=0, total=None)
    try:
        listed = list(client.agents_v2())
    except FoundryNotFound:  # a remote that does not speak the v2 protocol: nothing to mirror, nothing wrong
        return
    for obj in listed:
        name = str(obj.get("name") or obj.get("id") or "")
        guid = ((obj.get("versions") or {}).get("latest") or {}).get("agent_guid")
        if not name:
            continue
        classic = Agent.objects.filter(remote_project=remote, remote_id=guid).first() if guid else None
        if classic is not None or name.startswith("asst_"):
            if classic is not None and classic.api_name != name and not name.startswith("asst_"):
                named = Agent.objects.filter(project_id=remote.project_id, api_name=name).exclude(pk=classic.pk)
                if not named.exists():
                    Agent.objects.filter(pk=classic.pk).update(api_name=name)
                    counts.add("agents", "updated")
            continue
        counts.add("agents", agent_v2_mirror(remote, name, list(client.agent_versions_v2(name))))
    progress.save(done=len(listed))


def agent_v2_mirror(remote: RemoteProject, name: str, versions: list[dict[str, Any]]) -> str:
    """Create or bring up to date the mirror of a v2 agent: the latest version's definition on the agent, and
    every version the remote keeps as a version here, with the remote's numbers."""
    numbered = sorted((int(v["version"]), v) for v in versions if str(v.get("version", "")).isdigit())
    if not numbered:
        return "unchanged"

    def fields_of(obj: dict[str, Any]) -> dict[str, Any]:
        raw = obj.get("definition")
        definition: dict[str, Any] = raw if isinstance(raw, dict) else {}
        try:
            fields = definition_fields(definition)
        except ValueError:
            fields = {"model": definition.get("model")}
        return {
            **fields,
            "model": fields.get("model") or "",
            "description": obj.get("description") or "",
            "metadata": obj.get("metadata") or {},
        }

    latest_number, latest = numbered[-1]
    fields = fields_of(latest)
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(remote_project=remote, remote_id=name).first()
        outcome = "unchanged"
        if agent is None:
            agent = Agent.objects.create(
                project_id=remote.project_id, remote_project=remote, remote_id=name, api_name=name, name=name,
                version=latest_number, **fields,
            )  # fmt: skip
            outcome = "created"
        elif agent.version != latest_number or agent.remote_deleted_at is not None:
            for key, value in fields.items():
                setattr(agent, key, value)
            agent.version, agent.remote_deleted_at = latest_number, None
            agent.save()
            outcome = "updated"
        kept = set(AgentVersion.objects.filter(agent=agent).values_list("version", flat=True))
        for number, obj in numbered:
            if number not in kept:
                row = AgentVersion.objects.create(
                    agent=agent, version=number, definition={**fields_of(obj), "name": name, "connection": None}
                )
                if created_at := ts(obj.get("created_at")):
                    AgentVersion.objects.filter(pk=row.pk).update(created_at=created_at)
    return outcome


def _conversations_sync(client: FoundryClient, remote: RemoteProject, counts: Counts, progress: _Progress) -> set[str]:
    """Mirror the remote's conversations (Foundry's list) as threads; returns the local pks created. A remote
    that serves both protocols on one store lists its threads here too: those are mirrored already."""
    progress.save(phase="conversations", done=0, total=None)
    created: set[str] = set()
    try:
        for page in client.conversations():
            ids = [obj["id"] for obj in page]
            known = set(
                Thread.objects.filter(remote_project=remote, remote_id__in=ids).values_list("remote_id", flat=True)
            )
            for obj in page:
                if obj["id"] in known:
                    continue
                created.add(thread_mirror(remote, obj).pk)
                counts.add("threads", "created")
    except FoundryNotFound:  # a remote without the v2 protocol (or without Foundry's list)
        pass
    return created


# A response's statuses, each a run status of the same name.
RESPONSE_STATUSES = frozenset({"queued", "in_progress", "completed", "incomplete", "failed", "cancelled"})


def response_as_run(obj: dict[str, Any]) -> dict[str, Any]:
    """A v2 response object in the shape ``run_mirror`` reads (a classic run's): the run that answered it here.
    A response that asked for function calls has ended (``completed``); its agent is the v2 name it was given."""
    usage = obj.get("usage") or {}
    agent = obj.get("agent_reference") or obj.get("agent") or {}
    status = obj.get("status") if obj.get("status") in RESPONSE_STATUSES else "failed"
    error = obj.get("error")
    # Unix times, as the classic run carries them: responses say when they ended only when they completed.
    finished = obj.get("completed_at") or (obj.get("created_at") if status in TERMINAL_RUN_STATUSES else None)
    return {
        "id": obj["id"],
        "assistant_id": agent.get("name") if isinstance(agent, dict) else None,
        "status": status,
        "model": obj.get("model") or "",
        "instructions": obj.get("instructions") if isinstance(obj.get("instructions"), str) else "",
        "tools": obj.get("tools") or [],
        "temperature": obj.get("temperature"),
        "top_p": obj.get("top_p"),
        "metadata": obj.get("metadata") or {},
        "last_error": {"code": error.get("code"), "message": error.get("message")} if isinstance(error, dict) else None,
        "incomplete_details": obj.get("incomplete_details"),
        "usage": {
            "prompt_tokens": usage.get("input_tokens"),
            "completion_tokens": usage.get("output_tokens"),
            "total_tokens": usage.get("total_tokens"),
        },
        "created_at": obj.get("created_at"),
        "started_at": obj.get("created_at") if status != "queued" else None,
        "completed_at": finished if status == "completed" else None,
        "failed_at": finished if status == "failed" else None,
        "cancelled_at": finished if status == "cancelled" else None,
    }


def _responses_sync(
    client: FoundryClient, thread: Thread, counts: Counts, agents: AgentLookup
) -> dict[str, Run | None]:
    """Mirror a conversation's responses as its runs (those still active read again, then the new ones), so the
    console shows them with their status, tokens and agent, and usage counts them. Returns them by remote id, for
    the items that name their ``response_id``. A remote without Foundry's response list: nothing to mirror."""
    assert thread.remote_id is not None
    mirrored: dict[str, Run | None] = {}
    for run in Run.objects.filter(thread=thread, status__in=ACTIVE_RUN_STATUSES, remote_id__isnull=False):
        assert run.remote_id is not None
        try:
            obj = client.response_get(run.remote_id)
        except FoundryNotFound:
            continue
        run, outcome = run_mirror(thread, response_as_run(obj), agents)
        mirrored[run.remote_id or ""] = run
        counts.add("runs", outcome)
    last = (
        Run.objects.filter(thread=thread, remote_id__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("remote_id", flat=True)
        .first()
    )
    try:
        for obj in client.responses(thread.remote_id, after=last):
            run, outcome = run_mirror(thread, response_as_run(obj), agents)
            mirrored[obj["id"]] = run
            counts.add("runs", outcome)
    except FoundryNotFound:
        pass
    return mirrored


def _conversation_items_sync(
    client: FoundryClient, thread: Thread, counts: Counts, agents: AgentLookup, runs: dict[str, Run | None]
) -> None:
    """A conversation's message items, after the last one mirrored, as messages, each answer tied to the run
    mirrored from its response (a response's other items, its function calls, are in that run's output)."""
    assert thread.remote_id is not None
    for page in client.conversation_items(thread.remote_id, after=message_cursor(thread)):
        for item in page:
            if item.get("type", "message") != "message" or item.get("role") not in ("user", "assistant"):
                continue
            parts = [
                {"type": "text", "text": {"value": str(part.get("text") or ""), "annotations": []}}
                for part in item.get("content") or []
                if isinstance(part, dict) and part.get("type") in ("input_text", "output_text", "text")
            ]
            obj = {
                "id": item["id"],
                "role": item["role"],
                "content": parts,
                "status": item.get("status") or "completed",
                "created_at": item.get("created_at"),
                "run_id": item.get("response_id"),
                "assistant_id": (item.get("agent_reference") or {}).get("name"),
            }
            counts.add("messages", message_mirror(thread, obj, agents, runs))
