"""Reads for retention: the ONE candidate selector that the preview and the purge share, and console lists.

The preview (dry run) and the real purge both walk ``candidate_batches``, so for the same policy and cutoff
they pick the same threads. Walking is keyset over ``(age field, id)`` in batches, so memory holds one batch
of ids whatever the number of threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan

from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    PurgeReport,
    RetentionPolicy,
    Run,
    Thread,
    ThreadHold,
    ThreadTombstone,
    VectorStore,
    VectorStoreFile,
)

PAGE_SIZE = 50


class Candidate(NamedTuple):
    ts: datetime
    id: str
    message_count: int
    # Set for a thread mirrored from a remote project (it goes on the remote first).
    remote_project_id: int | None = None


@dataclass(frozen=True)
class Plan:
    """A policy resolved for one run: its effective age cutoff and scope, as plain values."""

    policy_id: int
    is_default: bool
    project_id: int | None
    agent_ids: tuple[str, ...]
    metadata_key: str
    metadata_value: str
    ts_field: str  # "last_activity_at" or "created_at"
    cutoff: datetime
    action: str
    keep_last: int | None
    now: datetime
    target: str = RetentionPolicy.Target.THREADS


def holds_active(now: datetime) -> QuerySet[ThreadHold]:
    """Holds in force at ``now``: not released and not expired."""
    return ThreadHold.objects.filter(released_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def thread_trim_report(thread: Thread) -> PurgeReport | None:
    """The purge report that last trimmed ``thread`` (the banner's link), or None: not trimmed, or report gone."""
    if thread.trimmed_report_id is None:
        return None
    return PurgeReport.objects.filter(pk=thread.trimmed_report_id).only("id", "policy_name", "started_at").first()


def thread_tombstone(thread_id: str) -> ThreadTombstone | None:
    """What is known of a deleted thread (when, how, by what, which report), or None: never existed, or pruned."""
    return ThreadTombstone.objects.filter(pk=thread_id).first()


def thread_hold_current(thread_id: str, now: datetime) -> ThreadHold | None:
    """The thread's hold in force, newest first, with who placed it (the thread page's header)."""
    return holds_active(now).filter(thread_id=thread_id).select_related("placed_by").order_by("-placed_at").first()


def thread_is_held(thread_id: str, now: datetime) -> bool:
    return holds_active(now).filter(thread_id=thread_id).exists()


def _held(now: datetime) -> Exists:
    return Exists(holds_active(now).filter(thread=OuterRef("pk")))


def _running() -> Exists:
    return Exists(Run.objects.filter(thread=OuterRef("pk"), status__in=ACTIVE_RUN_STATUSES))


def plan_scope(plan: Plan) -> QuerySet[Thread]:
    """Threads the policy covers by scope and age, before holds and active runs are considered."""
    qs = Thread.objects.filter(**{f"{plan.ts_field}__lte": plan.cutoff})
    if plan.project_id is not None:
        qs = qs.filter(project_id=plan.project_id)
    if plan.is_default:
        # A project whose policy an administrator allowed to be less strict is out of the default's reach.
        exempt = RetentionPolicy.objects.filter(enabled=True, allow_less_strict=True, project__isnull=False).values(
            "project_id"
        )
        qs = qs.exclude(project_id__in=exempt)
    if plan.agent_ids:
        qs = qs.filter(last_agent_id__in=plan.agent_ids)
    if plan.metadata_key:
        # KeyTransform takes the key literally, so a key like "a__b" cannot become a lookup.
        qs = qs.alias(_retention_mv=KeyTransform(plan.metadata_key, "metadata")).filter(
            _retention_mv=plan.metadata_value
        )
    if plan.action == RetentionPolicy.Action.TRIM and plan.keep_last is not None:
        qs = qs.filter(message_count__gt=plan.keep_last)
    return qs


def plan_eligible(plan: Plan) -> QuerySet[Thread]:
    """In scope, not on hold, no active run: what a purge may touch right now."""
    return plan_scope(plan).filter(~_held(plan.now), ~_running())


def stores_eligible(plan: Plan) -> QuerySet[VectorStore]:
    """A vector-store policy's stores: idle (or created) before the cutoff, or past their own ``expires_at``
    (the ``expires_after`` their creator set), in the policy's project when it has one."""
    qs = VectorStore.objects.filter(Q(**{f"{plan.ts_field}__lte": plan.cutoff}) | Q(expires_at__lte=plan.now))
    if plan.project_id is not None:
        qs = qs.filter(project_id=plan.project_id)
    return qs


def stores_size(store_ids: QuerySet[VectorStore] | list[str]) -> dict[str, int]:
    """What deleting these stores removes: file entries, indexed chunks and bytes of text (one query over the
    file entries, never the chunks)."""
    totals = VectorStoreFile.objects.filter(vector_store_id__in=store_ids).aggregate(
        files=Count("id"), chunks=Sum("chunk_count"), bytes=Sum("usage_bytes")
    )
    return {"files": totals["files"], "chunks": totals["chunks"] or 0, "bytes": totals["bytes"] or 0}


def _targets(plan: Plan) -> QuerySet[Any]:
    if plan.target == RetentionPolicy.Target.VECTOR_STORES:
        return stores_eligible(plan).annotate(
            message_count=Value(0), remote_project_id=Value(None, output_field=IntegerField())
        )
    return plan_eligible(plan)


def candidate_batches(
    plan: Plan, *, after: tuple[datetime, str] | None = None, batch_size: int = 200
) -> Iterator[list[Candidate]]:
    """Eligible threads (or a vector-store policy's stores), oldest first, ``batch_size`` at a time, from just
    after the keyset position ``after``.

    Each batch is a fresh query from the last position, so rows deleted meanwhile simply no longer appear and
    nothing is held in memory beyond one batch.
    """
    field = plan.ts_field
    position = after
    while True:
        qs = _targets(plan)
        if position is not None:
            # A row-value comparison, (ts, id) > (…, …), so PostgreSQL walks the index in order from the position
            # and stops at the limit; the OR-spelled form made it collect and sort every remaining row per batch.
            qs = qs.filter(TupleGreaterThan(Tuple(F(field), F("id")), position))
        rows = [
            Candidate(*row)
            for row in qs.order_by(field, "id").values_list(field, "id", "message_count", "remote_project_id")[
                :batch_size
            ]
        ]
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        position = (rows[-1].ts, rows[-1].id)


def candidate_count(plan: Plan) -> int:
    return _targets(plan).count()


def skipped_counts(plan: Plan) -> tuple[int, int]:
    """(held, active run) among the threads in scope: what the purge leaves alone and why."""
    if plan.target == RetentionPolicy.Target.VECTOR_STORES:
        return 0, 0
    scope = plan_scope(plan)
    held = scope.filter(_held(plan.now)).count()
    active = scope.filter(~_held(plan.now), _running()).count()
    return held, active


# --- Console lists ------------------------------------------------------------------------------


def policy_list() -> QuerySet[RetentionPolicy]:
    return RetentionPolicy.objects.select_related("project").order_by("project_id", "name", "id")


def report_page(*, before: int | None = None, policy_id: int | None = None) -> tuple[list[PurgeReport], int | None]:
    """Newest first, keyset on id; returns the page and the cursor of the next page (None at the end)."""
    qs = PurgeReport.objects.select_related("triggered_by").order_by("-id")
    if policy_id is not None:
        qs = qs.filter(policy_id=policy_id)
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = list(qs[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (rows[-1].id if more else None)


def latest_preview(policy_id: int) -> PurgeReport | None:
    return PurgeReport.objects.filter(policy_id=policy_id, dry_run=True).order_by("-id").first()


def hold_page(*, now: datetime, before: int | None = None) -> tuple[list[ThreadHold], int | None]:
    """Active holds, newest first, keyset on id."""
    qs = holds_active(now).select_related("thread", "placed_by").order_by("-id")
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = list(qs[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (rows[-1].id if more else None)


def thread_holds(thread_id: str) -> list[ThreadHold]:
    """A thread's holds, newest first (a thread has few)."""
    return list(ThreadHold.objects.filter(thread_id=thread_id).select_related("placed_by", "released_by")[:50])
