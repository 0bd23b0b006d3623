"""Retention: policies, holds, and purges (preview or real) that write a PurgeReport.

Every purge path goes through here: the beat sweep, "Run now" and "Dry run" in the console, the
``apply_retention`` command, and deleting one thread from the console or the API (``thread_purge``).

The rule "stricter than the default": the policy without a project is the instance-wide default and covers
every thread. A project policy's effective age is ``min(its days, the default's days)`` when both use the same
criterion (and its trim cap ``min`` of both caps), so it can only purge sooner, never later. An administrator
may set ``allow_less_strict`` on a project-wide policy: then its own days count and the default no longer
reaches that project. Saving a policy that would be less strict without that flag is refused (param ``days``).

A purge walks the shared candidate selector in batches; each batch is one short transaction that locks its
threads (``select_for_update(skip_locked=True)``), re-checks holds and active runs, deletes trace spans, steps,
messages, runs and then threads by id, and moves the report's counters and cursor. A stop flag is checked between
batches; a stopped or failed purge resumes from its cursor with the same cutoff.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, ProtectedError, Q, QuerySet
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, pre_delete
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    Message,
    MessageComment,
    Project,
    PurgeReport,
    Response,
    RetentionPolicy,
    Review,
    ReviewItem,
    Run,
    RunSpan,
    RunStep,
    Thread,
    ThreadFlag,
    ThreadHold,
    ThreadNote,
    ThreadTombstone,
    VectorStore,
    VectorStoreChunk,
)
from agents_admin.selectors import retention as sel
from agents_admin.services import dispatch
from agents_admin.services.audit import Actor, audit_record, changed_fields
from agents_admin.services.stores import store_for, threads_delete_at_source
from agents_admin.services.usage import usage_count_threads

logger = logging.getLogger(__name__)

# Threads per batch (one transaction). 1,000 rather than 200: the purge's own statements per batch (selection,
# lock, tombstones, probe, report) cost as much as the deletes at 200 (0.55x a raw SQL delete of the same rows,
# SQLite); at 1,000 the purge runs at 0.79x (bench_retention, docs/retention.md). Memory stays bounded by it.
BATCH_SIZE = 1000
SAMPLE_SIZE = 20
MAX_ERRORS = 50
MAX_DAYS = 36_500
MAX_EVERY_HOURS = 24 * 30
# A running purge whose heartbeat is older than this lost its worker (a batch takes well under a second).
STALE_AFTER = timedelta(minutes=5)
# "Run now" without typing the policy's name needs a dry run of the same selection this recent.
DRY_RUN_FRESH_FOR = timedelta(hours=1)
# The fields that decide which threads a policy picks and what it does to them (schedule and name do not).
SELECTION_FIELDS = (
    "target",
    "project",
    "metadata_key",
    "metadata_value",
    "criterion",
    "days",
    "keep_last_messages",
    "action",
    "allow_less_strict",
)

# What a policy is made of, as ``policy_clean`` and ``policy_save`` take it (the console form's fields).
POLICY_FIELDS = (
    "name",
    "target",
    "project",
    "agents",
    "metadata_key",
    "metadata_value",
    "criterion",
    "days",
    "keep_last_messages",
    "action",
    "schedule",
    "daily_at",
    "every_hours",
    "allow_less_strict",
    "enabled",
)


# --- Policies -----------------------------------------------------------------------------------


def policy_default() -> RetentionPolicy | None:
    """The instance-wide thread policy (the one project thread policies may only be stricter than)."""
    return (
        RetentionPolicy.objects.filter(project__isnull=True, target=RetentionPolicy.Target.THREADS)
        .order_by("id")
        .first()
    )


def policy_effective(policy: RetentionPolicy, *, default: RetentionPolicy | None) -> tuple[int, int | None]:
    """(days, keep_last) this policy really applies, after the stricter-than-default rule (``default`` is
    ``policy_default()``, passed in so a list computes it once)."""
    days, keep = policy.days, policy.keep_last_messages
    if policy.is_default or policy.allow_less_strict or policy.target != RetentionPolicy.Target.THREADS:
        return days, keep
    if default is None or not default.enabled:
        return days, keep
    if default.criterion == policy.criterion:
        days = min(days, default.days)
    if keep is not None and default.action == RetentionPolicy.Action.TRIM and default.keep_last_messages:
        keep = min(keep, default.keep_last_messages)
    return days, keep


def policy_next_run(*, policy: RetentionPolicy, after: datetime) -> datetime:
    """The next time the schedule fires strictly after ``after`` (daily times are UTC)."""
    if policy.schedule == RetentionPolicy.Schedule.INTERVAL:
        return after + timedelta(hours=policy.every_hours or 24)
    at = policy.daily_at or dtime(3, 0)
    after_utc = after.astimezone(UTC)
    candidate = after_utc.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if candidate <= after_utc:
        candidate += timedelta(days=1)
    return candidate


def _is_admin(actor: Actor) -> bool:
    return bool(actor is not None and getattr(actor, "is_superuser", False))


def policy_clean(fields: dict[str, Any], *, policy: RetentionPolicy | None, actor: Actor) -> dict[str, Any]:
    """Validated, normalised policy fields (the names of ``policy_save``'s); raises InvalidInput naming the first
    bad field. ``policy`` is the one being edited (None for a new one); ``actor`` decides whether a policy may be
    allowed to be less strict than the instance default."""
    unknown = sorted(set(fields) - set(POLICY_FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown policy field {unknown[0]!r}.", param=unknown[0])
    name = (fields.get("name") or "").strip()
    target = fields.get("target") or RetentionPolicy.Target.THREADS
    project: Project | None = fields.get("project")
    agents = list(fields.get("agents") or ())
    metadata_key = fields.get("metadata_key") or ""
    metadata_value = fields.get("metadata_value") or ""
    criterion = fields.get("criterion", RetentionPolicy.Criterion.INACTIVE_DAYS)
    days = fields.get("days", 90)
    keep_last_messages = fields.get("keep_last_messages")
    action = fields.get("action", RetentionPolicy.Action.DELETE)
    schedule = fields.get("schedule", RetentionPolicy.Schedule.DAILY)
    daily_at = fields.get("daily_at")
    every_hours = fields.get("every_hours")
    allow_less_strict = bool(fields.get("allow_less_strict", False))
    if not name:
        raise InvalidInput("Give the policy a name.", param="name")
    if target not in RetentionPolicy.Target.values:
        raise InvalidInput("Choose what the policy purges: threads or vector stores.", param="target")
    stores = target == RetentionPolicy.Target.VECTOR_STORES
    if stores:
        _store_policy_check(agents, metadata_key, action, allow_less_strict)
    if criterion not in RetentionPolicy.Criterion.values:
        raise InvalidInput("Choose a criterion.", param="criterion")
    if days is None or days < 0 or days > MAX_DAYS:
        raise InvalidInput(f"Days must be between 0 and {MAX_DAYS}.", param="days")
    if action not in RetentionPolicy.Action.values:
        raise InvalidInput("Choose an action.", param="action")
    if action == RetentionPolicy.Action.TRIM and not keep_last_messages:
        raise InvalidInput("A trim policy needs how many of the newest messages to keep.", param="keep_last_messages")
    if action == RetentionPolicy.Action.DELETE and keep_last_messages:
        raise InvalidInput(
            "Only a trim policy keeps the last N messages; leave this empty.", param="keep_last_messages"
        )
    if bool(metadata_key) != bool(metadata_value):
        raise InvalidInput("Give both a metadata key and a value, or neither.", param="metadata_value")
    if schedule == RetentionPolicy.Schedule.DAILY and daily_at is None:
        raise InvalidInput("Give the time of day (UTC) to run at.", param="daily_at")
    if schedule == RetentionPolicy.Schedule.INTERVAL and not (every_hours and 1 <= every_hours <= MAX_EVERY_HOURS):
        raise InvalidInput(f"Every N hours needs N between 1 and {MAX_EVERY_HOURS}.", param="every_hours")
    if schedule not in RetentionPolicy.Schedule.values:
        raise InvalidInput("Choose a schedule.", param="schedule")

    if project is None:
        other = RetentionPolicy.objects.filter(project__isnull=True, target=target)
        if policy is not None and policy.pk:
            other = other.exclude(pk=policy.pk)
        existing = other.first()
        if existing is not None:
            kind = "vector-store policy" if stores else "default policy"
            raise InvalidInput(
                f"There is already an instance-wide {kind} ({existing.name}); choose a project.", param="project"
            )
        if agents or metadata_key:
            raise InvalidInput(
                "The instance-wide default covers every thread; narrow a project policy instead.", param="agents"
            )
    elif any(agent.project_id != project.pk for agent in agents):
        raise InvalidInput("Choose agents of the policy's project.", param="agents")

    was_allowed = bool(policy is not None and policy.pk and policy.allow_less_strict)
    if allow_less_strict and not was_allowed and not _is_admin(actor):
        raise InvalidInput("Only an administrator may allow a policy to be less strict.", param="allow_less_strict")
    if allow_less_strict and (project is None or agents or metadata_key):
        raise InvalidInput(
            "Only a project-wide policy (no agent or metadata narrowing) may be less strict than the default.",
            param="allow_less_strict",
        )
    default = policy_default()
    if project is not None and not stores and not allow_less_strict and default is not None and default.enabled:
        if default.criterion == criterion and days > default.days:
            raise InvalidInput(
                f"A project policy may only be stricter than the instance default ({default.days} days); "
                f"use at most {default.days}, or ask an administrator to allow a less strict policy.",
                param="days",
            )
        if (
            keep_last_messages
            and default.action == RetentionPolicy.Action.TRIM
            and default.keep_last_messages
            and keep_last_messages > default.keep_last_messages
        ):
            raise InvalidInput(
                f"The instance default keeps at most {default.keep_last_messages} messages; keep fewer.",
                param="keep_last_messages",
            )
    return {
        "name": name,
        "target": target,
        "project": project,
        "agents": agents,
        "metadata_key": metadata_key,
        "metadata_value": metadata_value,
        "criterion": criterion,
        "days": days,
        # Only the fields the action and schedule use are kept, so a switched form leaves no stale values.
        "keep_last_messages": keep_last_messages if action == RetentionPolicy.Action.TRIM else None,
        "action": action,
        "schedule": schedule,
        "daily_at": daily_at if schedule == RetentionPolicy.Schedule.DAILY else None,
        "every_hours": every_hours if schedule == RetentionPolicy.Schedule.INTERVAL else None,
        "allow_less_strict": allow_less_strict,
        # Left out, it stays as it is (a new policy starts disabled).
        "enabled": _enabled_clean(bool(fields.get("enabled", policy is not None and policy.enabled)), policy=policy),
    }


def _store_policy_check(agents: list[Any], metadata_key: str, action: str, allow_less_strict: bool) -> None:
    """A vector-store policy deletes whole stores by age; the thread narrowings and trim do not apply to it."""
    if agents:
        raise InvalidInput("A vector-store policy covers a project's stores; it has no agents to narrow by.",
                           param="agents")  # fmt: skip
    if metadata_key:
        raise InvalidInput("A vector-store policy has no metadata narrowing; leave it empty.", param="metadata_key")
    if action != RetentionPolicy.Action.DELETE:
        raise InvalidInput("A vector-store policy deletes the stores; choose Delete.", param="action")
    if allow_less_strict:
        raise InvalidInput("Only a thread policy can be allowed to be less strict.", param="allow_less_strict")


def _enabled_clean(enabled: bool, *, policy: RetentionPolicy | None) -> bool:
    """A policy is enabled (scheduled) only after a completed dry run has shown what it selects."""
    if not enabled or (policy is not None and policy.enabled):
        return enabled
    if policy is None or not policy.pk:
        raise InvalidInput(
            "A new policy starts disabled: save it, run a dry run to see what it would purge, then enable it.",
            param="enabled",
        )
    if policy_preview(policy) is None:
        raise InvalidInput(
            "Run a dry run first: a policy is enabled only once a preview has shown what it would purge.",
            param="enabled",
        )
    return enabled


def policy_preview(policy: RetentionPolicy, *, since: datetime | None = None) -> PurgeReport | None:
    """The newest completed dry run of the policy's current selection (finished after ``since``), or None.
    A dry run from before the selection last changed does not count."""
    previews = PurgeReport.objects.filter(policy=policy, dry_run=True, status=PurgeReport.Status.COMPLETED)
    if policy.selection_changed_at is not None:
        previews = previews.filter(started_at__gte=policy.selection_changed_at)
    if since is not None:
        previews = previews.filter(finished_at__gte=since)
    return previews.order_by("-started_at", "-id").first()


def _selection_changed(policy: RetentionPolicy | None, cleaned: dict[str, Any], agents: list[Any]) -> bool:
    if policy is None or not policy.pk:
        return True
    if any(getattr(policy, name) != cleaned[name] for name in SELECTION_FIELDS):
        return True
    return set(policy.agents.values_list("pk", flat=True)) != {agent.pk for agent in agents}


def policy_save(
    *, policy: RetentionPolicy | None, actor: Actor, now: datetime | None = None, **fields: Any
) -> RetentionPolicy:
    """Create (``policy=None``) or update a policy from ``policy_clean``'s fields. Raises InvalidInput naming
    the field, and saves nothing then."""
    cleaned = policy_clean(fields, policy=policy, actor=actor)
    agents = cleaned.pop("agents")
    now = now or timezone.now()
    changed = _selection_changed(policy, cleaned, agents)
    target = policy or RetentionPolicy(created_by=_user_or_none(actor))
    creating = not target.pk
    before = {} if creating else policy_audit_view(target)
    for key, value in cleaned.items():
        setattr(target, key, value)
    if changed:
        # Earlier dry runs no longer show what it would purge: "Run now" needs a new one (or the name typed).
        # A scheduled policy stays scheduled: pausing the default would loosen every project policy under it.
        target.selection_changed_at = now
    target.next_run_at = policy_next_run(policy=target, after=now) if target.enabled else None
    with transaction.atomic():
        target.save()
        target.agents.set(agents)
        old, new = changed_fields(before, policy_audit_view(target, agents=agents))
        if creating or new:
            audit_record(
                action="retention_policy.create" if creating else "retention_policy.update", actor=actor,
                object_type="retention_policy", object_id=target.pk, project_id=target.project_id,
                before=old or None, after=new,
            )  # fmt: skip
    return target


def policy_audit_view(policy: RetentionPolicy, *, agents: list[Any] | None = None) -> dict[str, Any]:
    """What the audit log keeps of a policy: every setting, as plain values (agents by id, times as text)."""
    view = {name: getattr(policy, name) for name in POLICY_FIELDS if name not in ("project", "agents")}
    view["daily_at"] = policy.daily_at.isoformat() if policy.daily_at is not None else None
    view["project"] = policy.project_id
    view["agents"] = sorted(a.pk for a in agents) if agents is not None else sorted(
        policy.agents.values_list("pk", flat=True)
    )  # fmt: skip
    return view


def policy_enable(
    *, policy: RetentionPolicy, enabled: bool, actor: Actor, now: datetime | None = None
) -> RetentionPolicy:
    """Schedule (or pause) a policy. Enabling needs a completed dry run of its current selection (InvalidInput
    naming ``enabled`` otherwise, nothing changed)."""
    _enabled_clean(enabled, policy=policy)
    was = policy.enabled
    policy.enabled = enabled
    policy.next_run_at = policy_next_run(policy=policy, after=now or timezone.now()) if enabled else None
    with transaction.atomic():
        policy.save(update_fields=["enabled", "next_run_at", "updated_at"])
        if was != enabled:
            audit_record(
                action="retention_policy.update", actor=actor, object_type="retention_policy", object_id=policy.pk,
                project_id=policy.project_id, before={"enabled": was}, after={"enabled": enabled},
            )  # fmt: skip
    return policy


def purge_start_confirmed(
    *,
    policy: RetentionPolicy,
    actor: Actor,
    preview_id: int | None,
    confirm_name: str,
    now: datetime | None = None,
) -> PurgeReport:
    """ "Run now" from a person: allowed with a completed dry run of the same selection from the last hour (the
    purge reuses its cutoff, so it picks the same threads), or with the policy's name typed. Otherwise
    InvalidInput naming ``confirm_name``, and nothing is queued."""
    now = now or timezone.now()
    fresh = policy_preview(policy, since=now - DRY_RUN_FRESH_FOR)
    preview = fresh if fresh is not None and fresh.pk == preview_id else None
    if preview is None and confirm_name.strip() != policy.name:
        if preview_id is not None:
            reason = "That dry run is more than an hour old, or the policy changed since."
        else:
            reason = "Run now needs a dry run of the same selection in the last hour."
        raise InvalidInput(
            f"{reason} Run a dry run, or type the policy's name to run it without one.", param="confirm_name"
        )
    return purge_start(
        policy=policy,
        trigger=PurgeReport.Trigger.MANUAL,
        actor=actor,
        cutoff=preview.cutoff if preview is not None else None,
    )


def policy_delete(*, policy: RetentionPolicy, actor: Actor = None, actor_label: str = "") -> None:
    """Delete a policy; its reports stay (they keep the policy's name)."""
    with transaction.atomic():
        before = policy_audit_view(policy)
        policy_id, project_id = policy.pk, policy.project_id
        policy.delete()
        audit_record(
            action="retention_policy.delete", actor=actor, actor_label=actor_label, object_type="retention_policy",
            object_id=policy_id, project_id=project_id, before=before,
        )  # fmt: skip


def plan_for(policy: RetentionPolicy, *, now: datetime, cutoff: datetime | None = None) -> sel.Plan:
    days, keep = policy_effective(policy, default=policy_default())
    # A thread's last message or run, a store's last search.
    idle_field = "last_active_at" if policy.target == RetentionPolicy.Target.VECTOR_STORES else "last_activity_at"
    return sel.Plan(
        policy_id=policy.pk,
        is_default=policy.is_default,
        project_id=policy.project_id,
        agent_ids=tuple(policy.agents.values_list("pk", flat=True)),
        metadata_key=policy.metadata_key,
        metadata_value=policy.metadata_value,
        ts_field="created_at" if policy.criterion == RetentionPolicy.Criterion.CREATED_DAYS else idle_field,
        cutoff=cutoff if cutoff is not None else now - timedelta(days=days),
        action=policy.action,
        keep_last=keep,
        now=now,
        target=policy.target,
    )


# --- Holds --------------------------------------------------------------------------------------


def hold_place(
    *, thread: Thread, reason: str, actor: Actor, expires_at: datetime | None = None, now: datetime | None = None
) -> ThreadHold:
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the thread is on hold.", param="reason")
    if len(reason) > 500:
        raise InvalidInput("Keep the reason under 500 characters.", param="reason")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("The expiry must be in the future.", param="expires_at")
    with transaction.atomic():
        hold = ThreadHold.objects.create(
            thread=thread, reason=reason, placed_by=_user_or_none(actor), expires_at=expires_at
        )
        audit_record(
            action="hold.place", actor=actor, object_type="thread", object_id=thread.pk, project_id=thread.project_id,
            after={"hold": hold.pk, "reason": reason, "expires_at": expires_at.isoformat() if expires_at else None},
        )  # fmt: skip
    return hold


def hold_release(*, hold: ThreadHold, actor: Actor, now: datetime | None = None) -> ThreadHold:
    """Release a hold; releasing one already released raises Conflict and changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = ThreadHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
            released_at=now, released_by=_user_or_none(actor)
        )
        if not updated:
            raise Conflict("This hold was already released.", param="hold_id", code="hold_released")
        hold.refresh_from_db()
        audit_record(
            action="hold.release", actor=actor, object_type="thread", object_id=hold.thread_id,
            before={"hold": hold.pk, "reason": hold.reason}, after={"hold": hold.pk, "released": True},
        )  # fmt: skip
    return hold


def _user_or_none(actor: Actor) -> Any:
    return actor if actor is not None and getattr(actor, "pk", None) else None


# --- Purges -------------------------------------------------------------------------------------


def purge_start(
    *,
    policy: RetentionPolicy,
    trigger: str,
    actor: Actor = None,
    actor_label: str = "",
    dry_run: bool = False,
    cutoff: datetime | None = None,
    enqueue: bool = True,
) -> PurgeReport:
    """A queued report; with ``enqueue`` a worker runs it after commit. ``cutoff`` reuses a preview's selection.

    Audited as ``purge.start`` (a dry run too: it lists the threads a policy selects); the actor is the person, or
    ``beat`` / ``cli`` through ``actor_label``. The worker's outcome is ``purge.finish``."""
    with transaction.atomic():
        report = PurgeReport.objects.create(
            policy=policy,
            policy_name=policy.name,
            action=policy.action,
            target=policy.target,
            trigger=trigger,
            triggered_by=_user_or_none(actor),
            dry_run=dry_run,
            cutoff=cutoff,
            status=PurgeReport.Status.QUEUED,
        )
        audit_record(
            action="purge.start", actor=actor, actor_label=actor_label or _trigger_label(trigger, actor),
            object_type="purge_report", object_id=report.pk, project_id=policy.project_id,
            after={"policy": policy.pk, "policy_name": policy.name, "action": policy.action, "target": policy.target,
                   "dry_run": dry_run,
                   "trigger": trigger, "cutoff": cutoff.isoformat() if cutoff else None},
        )  # fmt: skip
        if enqueue:
            dispatch.task_send(dispatch.RETENTION_POLICY_RUN, policy.pk, report.pk)
    return report


def _trigger_label(trigger: str, actor: Actor) -> str:
    """Who started a purge nobody signed in started: the schedule (``beat``) or a command (``cli``)."""
    if actor is not None and getattr(actor, "pk", None):
        return ""
    return "beat" if trigger == PurgeReport.Trigger.SCHEDULE else "cli"


def purge_stop(*, report: PurgeReport, actor: Actor = None) -> PurgeReport:
    """Ask a running purge to stop after its current batch (a queued one stops at once)."""
    with transaction.atomic():
        stopped = PurgeReport.objects.filter(pk=report.pk, status=PurgeReport.Status.QUEUED).update(
            status=PurgeReport.Status.STOPPED, finished_at=timezone.now()
        )
        asked = PurgeReport.objects.filter(pk=report.pk, status=PurgeReport.Status.RUNNING).update(stop_requested=True)
        if stopped or asked:
            audit_record(
                action="purge.stop", actor=actor, object_type="purge_report", object_id=report.pk,
                after={"stopped": bool(stopped), "stop_requested": bool(asked)},
            )  # fmt: skip
    report.refresh_from_db()
    return report


def purge_resume(*, report: PurgeReport, actor: Actor = None, enqueue: bool = True) -> PurgeReport:
    """Queue a stopped or failed purge (or a running one whose worker died) again; it continues from its cursor.
    Conflict for any other state."""
    resumable = Q(status__in=[PurgeReport.Status.STOPPED, PurgeReport.Status.FAILED]) | Q(
        status=PurgeReport.Status.RUNNING, heartbeat_at__lt=timezone.now() - STALE_AFTER
    )
    with transaction.atomic():
        before = PurgeReport.objects.filter(pk=report.pk).values_list("status", flat=True).first()
        updated = PurgeReport.objects.filter(resumable, pk=report.pk, policy__isnull=False).update(
            status=PurgeReport.Status.QUEUED, stop_requested=False, finished_at=None
        )
        if not updated:
            raise Conflict("Only a stopped or failed purge of an existing policy can be resumed.", param="report_id")
        report.refresh_from_db()
        audit_record(
            action="purge.resume", actor=actor, object_type="purge_report", object_id=report.pk,
            before={"status": before}, after={"status": report.status},
        )  # fmt: skip
        if enqueue and report.policy_id is not None:
            dispatch.task_send(dispatch.RETENTION_POLICY_RUN, report.policy_id, report.pk)
    return report


def purge_execute(*, report_id: int, batch_size: int = BATCH_SIZE) -> PurgeReport | None:
    """Run a queued report to the end, a stop, or a failure. Returns None when the report is not claimable
    (another worker is on it, or it finished): so a redelivered task does nothing. A running report whose worker
    died (stale heartbeat) is taken over and continues from its cursor."""
    now = timezone.now()
    claimable = Q(status=PurgeReport.Status.QUEUED) | Q(
        status=PurgeReport.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    claimed = PurgeReport.objects.filter(claimable, pk=report_id).update(
        status=PurgeReport.Status.RUNNING, heartbeat_at=now
    )
    if not claimed:
        return None
    report = PurgeReport.objects.select_related("policy").get(pk=report_id)
    policy = report.policy
    if policy is None:
        return _finish(report, PurgeReport.Status.FAILED, error="The policy was deleted.")
    began = time.monotonic()
    try:
        plan = plan_for(policy, now=now, cutoff=report.cutoff)
        if report.cursor is None:
            # First start: fix the selection (cutoff) and the figures progress is measured against.
            report.cutoff = plan.cutoff
            report.total_candidates = sel.candidate_count(plan)
            report.skipped_held, report.skipped_active = sel.skipped_counts(plan)
            report.heartbeat_at = timezone.now()
            report.save(update_fields=["cutoff", "total_candidates", "skipped_held", "skipped_active", "heartbeat_at"])
        after = _cursor_decode(report.cursor)
        for batch in sel.candidate_batches(plan, after=after, batch_size=batch_size):
            if PurgeReport.objects.filter(pk=report.pk, stop_requested=True).exists():
                return _finish(report, PurgeReport.Status.STOPPED, began=began)
            if report.dry_run:
                _preview_batch(report, plan, batch)
            else:
                _purge_batch(report, plan, batch)
    except Exception as exc:
        logger.exception("retention purge %s failed", report.pk)
        return _finish(report, PurgeReport.Status.FAILED, began=began, error=f"{type(exc).__name__}: {exc}")
    return _finish(report, PurgeReport.Status.COMPLETED, began=began)


def _finish(report: PurgeReport, status: str, *, began: float | None = None, error: str | None = None) -> PurgeReport:
    report.refresh_from_db()
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now(), "stop_requested": False}
    if began is not None:
        fields["duration_seconds"] = (report.duration_seconds or 0.0) + (time.monotonic() - began)
    if error:
        fields["errors"] = (report.errors + [{"at": timezone.now().isoformat(), "error": error[:500]}])[-MAX_ERRORS:]
    with transaction.atomic():
        PurgeReport.objects.filter(pk=report.pk).update(**fields)
        report.refresh_from_db()
        audit_record(
            action="purge.finish", actor_label="retention", object_type="purge_report", object_id=report.pk,
            after={"status": status, "dry_run": report.dry_run, **_report_counts(report), "error": error},
        )  # fmt: skip
    return report


def _report_counts(report: PurgeReport) -> dict[str, int]:
    """What a purge removed (or a dry run would), by its target."""
    if report.target == RetentionPolicy.Target.VECTOR_STORES:
        names = ("vector_stores", "files", "chunks", "bytes")
    else:
        names = ("threads", "messages", "runs")
    return {name: getattr(report, name) for name in names}


def _cursor_decode(cursor: Any) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    ts = parse_datetime(cursor["ts"])
    return (ts, cursor["id"]) if ts else None


def _advance(report: PurgeReport, batch: list[sel.Candidate], affected: list[sel.Candidate], **counts: int) -> None:
    """Move the report past ``batch`` (counters, cursor, oldest/newest, sample) in the caller's transaction."""
    last = batch[-1]
    fields: dict[str, Any] = {name: F(name) + value for name, value in counts.items() if value}
    fields["processed"] = F("processed") + len(batch)
    fields["heartbeat_at"] = timezone.now()
    fields["cursor"] = {"ts": last.ts.isoformat(), "id": last.id}
    if affected:
        if report.oldest_at is None:
            report.oldest_at = affected[0].ts
            fields["oldest_at"] = report.oldest_at
        report.newest_at = affected[-1].ts
        fields["newest_at"] = report.newest_at
        if len(report.sample) < SAMPLE_SIZE:
            report.sample = report.sample + [c.id for c in affected[: SAMPLE_SIZE - len(report.sample)]]
            fields["sample"] = report.sample
    PurgeReport.objects.filter(pk=report.pk).update(**fields)


def _preview_batch(report: PurgeReport, plan: sel.Plan, batch: list[sel.Candidate]) -> None:
    ids = [c.id for c in batch]
    if plan.target == RetentionPolicy.Target.VECTOR_STORES:
        _advance(report, batch, batch, vector_stores=len(batch), **sel.stores_size(ids))
        return
    if plan.action == RetentionPolicy.Action.TRIM:
        keep = plan.keep_last or 0
        counts = {"threads": len(batch), "messages": sum(max(0, c.message_count - keep) for c in batch)}
    else:
        counts = {
            "threads": len(batch),
            # The denormalised counter, so a preview never counts message rows.
            "messages": sum(c.message_count for c in batch),
            "runs": Run.objects.filter(thread_id__in=ids).count(),
            "steps": RunStep.objects.filter(thread_id__in=ids).count(),
        }
    _advance(report, batch, batch, **counts)


def _purge_batch(report: PurgeReport, plan: sel.Plan, batch: list[sel.Candidate]) -> None:
    ids = [c.id for c in batch]
    if plan.target == RetentionPolicy.Target.VECTOR_STORES:
        _stores_purge_batch(report, plan, batch)
        return
    if plan.action == RetentionPolicy.Action.DELETE and any(c.remote_project_id for c in batch):
        # Threads mirrored from a remote Foundry project go on the remote first (HTTP, outside the transaction);
        # one the remote refuses stays whole here and is named in the report. A batch of local threads only (the
        # usual case) skips this.
        eligible_now = list(sel.plan_eligible(plan).filter(pk__in=ids).values_list("pk", flat=True))
        deletable, failures = threads_delete_at_source(thread_ids=eligible_now)
        refused = set(eligible_now) - set(deletable)
        if failures:
            _report_errors(report, [f"{f['thread_id']} ({f['remote_project']}): {f['error']}" for f in failures])
        ids = [pk for pk in ids if pk not in refused]
        batch = [c for c in batch if c.id not in refused] or batch[:0]
    with transaction.atomic():
        # The batch's threads still eligible, locked, in one statement; another sweep holding some of these rows
        # keeps them (we skip rather than wait or fail).
        eligible = set(
            sel.plan_eligible(plan)
            .filter(pk__in=ids)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)
        )
        affected = [c for c in batch if c.id in eligible]
        held = active = 0
        if len(eligible) < len(ids):
            # Put on hold or given a run since the batch was read: counted as skipped, left alone.
            rest = sel.plan_scope(plan).filter(pk__in=[pk for pk in ids if pk not in eligible])
            held = rest.filter(pk__in=sel.holds_active(plan.now).values("thread_id")).count()
            active = rest.filter(pk__in=Run.objects.filter(status__in=ACTIVE_RUN_STATUSES).values("thread_id")).count()
        if plan.action == RetentionPolicy.Action.TRIM:
            counts = _trim_threads([c.id for c in affected], keep=plan.keep_last or 0, report=report)
        else:
            counts = threads_delete([c.id for c in affected], report=report, by=report.policy_name)
        _advance(report, batch, affected, skipped_held=held, skipped_active=active, **counts)


def _stores_purge_batch(report: PurgeReport, plan: sel.Plan, batch: list[sel.Candidate]) -> None:
    """Delete a batch of a vector-store policy's stores with their file entries and index (the uploaded files
    stay: they belong to the project). A store searched since the batch was read is no longer idle and stays."""
    with transaction.atomic():
        # Another sweep (or the expiry beat) holding some of these rows keeps them; we skip rather than wait.
        locked = list(
            VectorStore.objects.select_for_update(skip_locked=True)
            .filter(pk__in=[c.id for c in batch])
            .values_list("pk", flat=True)
        )
        eligible = set(sel.stores_eligible(plan).filter(pk__in=locked).values_list("pk", flat=True))
        affected = [c for c in batch if c.id in eligible]
        ids = [c.id for c in affected]
        counts = {"vector_stores": len(ids), **sel.stores_size(ids)} if ids else {}
        if ids:
            VectorStoreChunk.objects.filter(vector_store_id__in=ids).delete()
            VectorStore.objects.filter(pk__in=ids).delete()
        _advance(report, batch, affected, **counts)


def _report_errors(report: PurgeReport, errors: list[str]) -> None:
    stamped = [{"at": timezone.now().isoformat(), "error": e[:500]} for e in errors]
    report.errors = (list(report.errors) + stamped)[-MAX_ERRORS:]
    PurgeReport.objects.filter(pk=report.pk).update(errors=report.errors)


# How a thread went, by the report's trigger; every other trigger is a retention policy's purge.
TOMBSTONE_HOW: dict[str, str] = {
    PurgeReport.Trigger.API: ThreadTombstone.How.API,
    PurgeReport.Trigger.CONSOLE_DELETE: ThreadTombstone.How.CONSOLE,
}


def threads_delete(thread_ids: list[str], *, report: PurgeReport, by: str = "") -> dict[str, int]:
    """Delete these threads with their steps, messages and runs, children first by id set, and leave a tombstone
    for each (when, how, ``by`` whom or which policy, ``report``), so their URLs answer 410. Uploaded files belong
    to the project, not to a thread (as on Foundry), so they stay and a report's ``files`` count stays 0.

    Call inside a transaction with the threads locked and re-checked (no hold, no active run). Returns the rows
    really deleted, so a report's counts are what left the database.
    """
    if not thread_ids:
        return {}
    now = timezone.now()
    _tombstones_write(thread_ids, now=now, how=TOMBSTONE_HOW.get(report.trigger, ThreadTombstone.How.POLICY),
                      by=by[:200], report_id=report.pk)  # fmt: skip
    # The batch's tombstones, just written, are the id set every statement below reads: one indexed subquery
    # with two parameters, instead of the batch's ids bound (and prepared by the ORM) into each of them.
    batch = ThreadTombstone.objects.filter(deleted_at=now, report_id=report.pk).values("thread_id")
    # Usage outlives the runs: any finished run not yet in the rollups is counted before it goes.
    usage_count_threads(batch)
    return _thread_rows_delete(batch)


def _tombstones_write(thread_ids: list[str], *, now: datetime, how: str, by: str, report_id: int) -> None:
    """One INSERT .. SELECT from the threads for the batch (SQLite 3.24+ and PostgreSQL alike). A tombstone left by
    an id seen before is overwritten, never a conflict that would roll the purge back.

    Hand-written because it is the purge's hot path: bulk_create of the batch's tombstones, each field of each row
    prepared by the ORM, was a quarter of the purge's CPU (bench_retention)."""
    q = connection.ops.quote_name
    table, thread_table = q(ThreadTombstone._meta.db_table), q(Thread._meta.db_table)
    columns = ", ".join(q(c) for c in ("thread_id", "project_id", "deleted_at", "how", "by", "report_id"))
    updates = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in ("project_id", "deleted_at", "how", "by", "report_id"))
    marks = ", ".join(["%s"] * len(thread_ids))
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {q('id')}, {q('project_id')}, %s, %s, %s, %s FROM {thread_table} "
        f"WHERE {q('id')} IN ({marks}) ON CONFLICT ({q('thread_id')}) DO UPDATE SET {updates}"
    )
    stamp = ThreadTombstone._meta.get_field("deleted_at").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [stamp, how, by, report_id, *thread_ids])


# What points at a thread, emptied by thread id before the threads go, children before their parents (a comment
# before its message, a review before its item, a response before its run). tests/services/test_retention.py
# checks that these, with Run's and Response's SET_NULL references below, are every relation to Thread and Run.
THREAD_CHILDREN = (MessageComment, RunSpan, RunStep, Message, Review, ReviewItem, ThreadNote, ThreadFlag, Response)


def _thread_rows_delete(thread_ids: QuerySet[Any]) -> dict[str, int]:
    """One DELETE per table by thread id set. Django's cascade from the threads and runs fetched them and queried
    every relation per batch with the fetched rows as parameters (the purge ran at 0.3x a plain SQL delete of
    the same rows); here the children go first by thread id, what another thread may hold onto (a response
    answering or following one of these) forgets it as SET_NULL says, and then the runs and the threads, which
    nothing points at any more, go with one plain DELETE each."""
    by_thread = {"thread_id__in": thread_ids}
    runs = Run.objects.filter(**by_thread)
    responses = Response.objects.filter(**by_thread)
    answering = Response.objects.filter(answers_run__in=runs.values("pk")).exclude(**by_thread)
    following = Response.objects.filter(previous_response__in=responses.values("pk")).exclude(**by_thread)
    holds = ThreadHold.objects.filter(**by_thread)
    # What the rarer relations hold for the batch, in one statement: most batches have no comment, review, note,
    # flag, response or hold, and skip their statements.
    rare = {model: model.objects.filter(**by_thread) for model in (MessageComment, *THREAD_CHILDREN[4:])}
    present = _present({**rare, "answering": answering, "following": following, ThreadHold: holds})
    if MessageComment in present:
        rare[MessageComment].delete()
    deleted = {model: model.objects.filter(**by_thread).delete()[0] for model in THREAD_CHILDREN[1:4]}
    if "answering" in present:
        answering.update(answers_run=None)
    if "following" in present:
        following.update(previous_response=None)
    for model in THREAD_CHILDREN[4:]:
        if model in present:
            rare[model].delete()
    run_count = _delete_plain(runs)
    # Only holds that no longer hold: an active one stays and refuses the thread's delete (the whole batch rolls
    # back) even if a caller skipped the check.
    if ThreadHold in present:
        holds.exclude(pk__in=sel.holds_active(timezone.now())).delete()
        if holds.exists():
            raise ProtectedError("A thread on hold cannot be deleted.", set(holds))
    thread_count = _delete_plain(Thread.objects.filter(pk__in=thread_ids))
    return {"threads": thread_count, "messages": deleted[Message], "runs": run_count, "steps": deleted[RunStep]}


def _present(probes: dict[Any, QuerySet[Any]]) -> set[Any]:
    """Which of these querysets have rows, in one statement (an EXISTS each, read as one row)."""
    names = {f"p{index}": key for index, key in enumerate(probes)}
    exists = {name: Exists(probes[key]) for name, key in names.items()}
    row = ThreadTombstone.objects.order_by().annotate(**exists).values(*names)[:1]
    found = next(iter(row), None)
    return {key for name, key in names.items() if found is None or found[name]}


def _delete_plain(rows: QuerySet[Any]) -> int:
    """One DELETE for rows nothing points at any more; the ORM's delete when someone listens for its signals."""
    if pre_delete.has_listeners(rows.model) or post_delete.has_listeners(rows.model):
        return rows.delete()[1].get(rows.model._meta.label, 0)
    return rows._raw_delete(rows.db)


def _trim_threads(thread_ids: list[str], *, keep: int, report: PurgeReport) -> dict[str, int]:
    """Keep each thread's newest ``keep`` messages by seq, renumber them 1..keep and fix message_count; the thread
    records how many went, when and by which report (its page says so).

    Renumbering keeps the invariant that ``message_count`` is both the count and the last seq, which
    ``message_create`` uses to number the next message.
    """
    threads = messages = 0
    for thread_id in thread_ids:
        boundary = (
            Message.objects.filter(thread_id=thread_id).order_by("-seq").values_list("seq", flat=True)[keep - 1 : keep]
        )
        first_kept = next(iter(boundary), None)
        if first_kept is None:
            continue
        MessageComment.objects.filter(thread_id=thread_id, message__seq__lt=first_kept).delete()
        deleted = Message.objects.filter(thread_id=thread_id, seq__lt=first_kept).delete()[0]
        if not deleted:
            continue
        kept = Message.objects.filter(thread_id=thread_id)
        top = kept.order_by("-seq").values_list("seq", flat=True).first() or 0
        # Two steps so no row ever takes a seq another row still has (the unique constraint is not deferred).
        kept.update(seq=F("seq") + top)
        kept.update(seq=F("seq") - top - (first_kept - 1))
        Thread.objects.filter(pk=thread_id).update(
            message_count=top - (first_kept - 1),
            trimmed_messages=Coalesce(F("trimmed_messages"), 0) + deleted,
            trimmed_at=timezone.now(),
            trimmed_report_id=report.pk,
        )
        threads += 1
        messages += deleted
    return {"threads": threads, "messages": messages}


def _refuse_if_active(thread: Thread) -> None:
    active = Run.objects.filter(thread_id=thread.pk, status__in=ACTIVE_RUN_STATUSES).only("id").first()
    if active is not None:
        raise Conflict(
            f"Thread {thread.pk} has an active run {active.id}; cancel it before deleting.",
            param="thread_id",
            code="thread_has_active_run",
        )


def _refuse_if_held(thread: Thread, now: datetime) -> None:
    if sel.thread_is_held(thread.pk, now):
        raise Conflict(
            f"Thread {thread.pk} is on hold; release the hold before deleting it.",
            param="thread_id",
            code="thread_on_hold",
        )


def thread_purge(*, thread: Thread, trigger: str, actor: Actor = None, actor_label: str = "") -> PurgeReport:
    """Delete one thread (console or API), recorded as a PurgeReport and a tombstone naming ``actor`` (or
    ``actor_label``: an API key). Conflict if it is held or has an active run; nothing is deleted or recorded
    then. A mirrored thread is deleted on its remote first."""
    began = time.monotonic()
    now = timezone.now()
    # Checked before the store is asked too: a remote that deletes a thread with a live run (the contract does not
    # say it refuses) would otherwise lose the thread while the local refusal below keeps it here.
    _refuse_if_held(thread, now)
    _refuse_if_active(thread)
    _, failures = store_for(thread).threads_delete(thread_ids=[thread.pk])
    if failures:
        raise Conflict(
            f"Deleting thread {thread.pk} failed on its remote project: {failures[0]['error']}",
            param="thread_id",
            code="remote_error",
        )
    with transaction.atomic():
        # Lock the row: a hold or a run created meanwhile waits for us, or we see it below.
        list(Thread.objects.select_for_update().filter(pk=thread.pk).values_list("pk", flat=True))
        _refuse_if_held(thread, now)
        _refuse_if_active(thread)
        # The report first, so the tombstone can name it; its counts follow the delete.
        report = PurgeReport.objects.create(
            trigger=trigger,
            triggered_by=_user_or_none(actor),
            status=PurgeReport.Status.COMPLETED,
            total_candidates=1,
            processed=1,
            oldest_at=thread.last_activity_at,
            newest_at=thread.last_activity_at,
        )
        person = _user_or_none(actor)
        counts = threads_delete([thread.pk], report=report, by=person.get_username() if person else actor_label)
        for name, value in counts.items():
            setattr(report, name, value)
        report.sample = [thread.pk] if counts.get("threads") else []
        report.finished_at = timezone.now()
        report.duration_seconds = time.monotonic() - began
        report.save(update_fields=[*counts, "sample", "finished_at", "duration_seconds"])
        return report


def tombstones_prune(*, now: datetime | None = None) -> int:
    """Delete the tombstones older than ``THREAD_TOMBSTONE_DAYS`` (their URLs then answer a plain 404); returns
    how many went. One statement on the ``deleted_at`` index; an hour's worth of deletes at a time."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.THREAD_TOMBSTONE_DAYS)
    return ThreadTombstone.objects.filter(deleted_at__lt=cutoff).delete()[0]


def retention_sweep(*, now: datetime | None = None) -> list[int]:
    """Start every due policy once: each is claimed by moving its next_run_at with a conditional update, so two
    beats (or two sweeps) never start the same policy twice for the same slot. Returns the reports started."""
    now = now or timezone.now()
    started: list[int] = []
    due = RetentionPolicy.objects.filter(enabled=True, next_run_at__lte=now).order_by("next_run_at", "id")
    for policy in due[:100]:
        following = policy_next_run(policy=policy, after=now)
        with transaction.atomic():
            claimed = RetentionPolicy.objects.filter(pk=policy.pk, next_run_at=policy.next_run_at, enabled=True).update(
                next_run_at=following
            )
            if claimed:
                started.append(purge_start(policy=policy, trigger=PurgeReport.Trigger.SCHEDULE).pk)
    return started
