"""Usage rollups: each finished run adds its counts to an hourly row, a daily row and a daily summary row (per
project, agent and model), exactly once.

A run the worker answered is counted by ``runs_settle``, with a batch of other finished runs, in one transaction
that also sets their ``Run.usage_counted`` (and stores their trace spans); other final statuses (cancel, expiry,
failure) go through ``usage_record_run``, called by ``run_transition`` in the same transaction (and the same
UPDATE) that moves the run to its final status and sets the marker. Either way only the transaction that changes
the marker counts the run, so a redelivered task, a second worker or a race with cancel/expiry never counts it
twice. Runs that reach their final status another way (mirrored from a remote project) or before rollups existed
are picked up by ``usage_backfill`` (beat, every few minutes, and the ``usage_rebuild`` command), which claims
each run with the same marker. ``usage_rebuild`` recounts a range from the runs still present.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet

from agents_admin.errors import Conflict
from agents_admin.models import (
    TERMINAL_RUN_STATUSES,
    ModelPrice,
    Run,
    RunStatus,
    RunStep,
    UsageErrorCount,
    UsagePeriod,
    UsageRollup,
)
from agents_admin.models.usage import (
    COUNTER_FIELDS,
    DIMENSIONS,
    KEY_FIELDS,
    LATENCY_BOUNDS_MS,
    LATENCY_FIELDS,
    STATUS_FIELDS,
)
from agents_admin.services.audit import Actor, audit_record, changed_fields

logger = logging.getLogger(__name__)

# What the rollups read of a run (no conversation content).
RUN_USAGE_FIELDS = (
    "id",
    "status",
    "created_at",
    "completed_at",
    "thread__project_id",
    "agent_ref",
    "model",
    "connection_id",
    "principal",
    "prompt_tokens",
    "completion_tokens",
    "last_error",
)
ANSWERED = (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
BACKFILL_BATCH = 500
# Runs per settle transaction (runs_settle): large enough that a burst's rollups and spans cost a fraction of a
# statement per run, small enough that its INSERT of spans stays a few hundred kilobytes.
SETTLE_BATCH = 100

Key = tuple[str, datetime, str, str, str, str, str]


def hour_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_start(moment: datetime) -> datetime:
    return hour_start(moment).replace(hour=0)


def latency_bucket(milliseconds: int) -> str:
    """The histogram column a latency falls in (bounds are inclusive upper limits)."""
    return LATENCY_FIELDS[bisect.bisect_left(LATENCY_BOUNDS_MS, milliseconds)]


def error_code(last_error: Any) -> str:
    code = last_error.get("code") if isinstance(last_error, dict) else None
    return str(code)[:64] if code else "unknown"


class UsageTally:
    """Counts of many runs, gathered in memory and written as increments: one row per key and period."""

    def __init__(self) -> None:
        self.rows: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTER_FIELDS, 0))
        self.errors: dict[tuple[Key, str], int] = defaultdict(int)

    def add(self, run: Mapping[str, Any], *, tool_calls: int = 0) -> None:
        """Add one finished run, given as the values of RUN_USAGE_FIELDS."""
        status = str(run["status"])
        if status not in STATUS_FIELDS:
            return
        created = run["created_at"]
        dims = (
            str(run["thread__project_id"]),
            run["agent_ref"],
            run["model"],
            str(run["connection_id"] or ""),
            run["principal"] or "",
        )
        latency = None
        if status in ANSWERED and run["completed_at"] is not None:
            latency = max(0, int((run["completed_at"] - created).total_seconds() * 1000))
        day = day_start(created)
        summary = (*dims[:3], "", "")  # SUMMARY_DIMENSIONS, the rest blank
        keys: tuple[Key, ...] = (
            (UsagePeriod.HOUR.value, hour_start(created), *dims),
            (UsagePeriod.DAY.value, day, *dims),
            (UsagePeriod.DAY_SUMMARY.value, day, *summary),
        )
        for key in keys:
            row = self.rows[key]
            row[STATUS_FIELDS[status]] += 1
            row["prompt_tokens"] += run["prompt_tokens"] or 0
            row["completion_tokens"] += run["completion_tokens"] or 0
            row["tool_calls"] += tool_calls
            if latency is not None:
                row["latency_count"] += 1
                row["latency_ms_sum"] += latency
                row[latency_bucket(latency)] += 1
            if status == RunStatus.FAILED:
                self.errors[(key, error_code(run["last_error"]))] += 1

    def write_bulk(self) -> None:
        """Add a large tally (a bulk load) with a few statements per thousand rows. Not for concurrent use with
        new keys: the live path's ``write`` is."""
        _merge_bulk(UsageRollup, dict(self.rows), COUNTER_FIELDS)
        errors = {(*key, code): {"count": count} for (key, code), count in self.errors.items()}
        _merge_bulk(UsageErrorCount, errors, ("count",))
        self.rows.clear()
        self.errors.clear()

    def write(self) -> None:
        """Add the tally to the tables (inside the caller's transaction). Rows that take the same increments (a
        run's hour, day and summary rows) are updated by one statement."""
        same: dict[tuple[Any, ...], list[Key]] = defaultdict(list)
        for key, counters in self.rows.items():
            same[tuple(counters.items())].append(key)
        for counters, keys in same.items():
            _increment(UsageRollup, keys, dict(counters))
        same_errors: dict[tuple[str, int], list[Key]] = defaultdict(list)
        for (key, code), count in self.errors.items():
            same_errors[(code, count)].append(key)
        for (code, count), keys in same_errors.items():
            _increment(UsageErrorCount, keys, {"count": count}, code=code)
        self.rows.clear()
        self.errors.clear()


def _key_fields(key: Key) -> dict[str, Any]:
    return dict(zip(("period", "bucket", *DIMENSIONS), key, strict=True))


def _merge_bulk(
    model: type[UsageRollup] | type[UsageErrorCount],
    rows: dict[tuple[Any, ...], dict[str, int]],
    fields: tuple[str, ...],
) -> None:
    """Read the existing rows of these keys (locked), add to them with one bulk UPDATE, insert the rest."""
    names = ("period", "bucket", *DIMENSIONS, *(("code",) if model is UsageErrorCount else ()))
    keys = list(rows)
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        periods, buckets = {k[0] for k in chunk}, {k[1] for k in chunk}
        wanted = set(chunk)
        existing = {}
        for row in model.objects.select_for_update().filter(period__in=periods, bucket__in=buckets):
            key = tuple(getattr(row, name) for name in names)
            if key in wanted:
                existing[key] = row
        changed, created = [], []
        for key in chunk:
            row = existing.get(key)
            if row is None:
                created.append(model(**dict(zip(names, key, strict=True)), **rows[key]))
                continue
            for name, value in rows[key].items():
                setattr(row, name, getattr(row, name) + value)
            changed.append(row)
        model.objects.bulk_update(changed, list(fields), batch_size=500)
        model.objects.bulk_create(created, batch_size=500)


def _increment(
    model: type[UsageRollup] | type[UsageErrorCount], keys: list[Key], counters: dict[str, int], **extra: str
) -> None:
    """Add ``counters`` to the rows of ``keys``, creating missing ones, in one INSERT … ON CONFLICT DO UPDATE
    (SQLite 3.24+ and PostgreSQL alike). Concurrent writers meet at the unique key, so none loses an increment.

    Hand-written because it is the run engine's hot path: the ORM's update, then create-or-update for a new
    bucket, cost two to four statements and about 30 % more CPU per run (bench_run_throughput).
    """
    table = connection.ops.quote_name(model._meta.db_table)
    key_columns = [*KEY_FIELDS, *extra]
    names = [*key_columns, *counters]
    columns = ", ".join(connection.ops.quote_name(name) for name in names)
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    updates = ", ".join(
        f"{q} = {table}.{q} + excluded.{q}" for q in (connection.ops.quote_name(n) for n in counters if counters[n])
    )
    conflict = ", ".join(connection.ops.quote_name(name) for name in key_columns)
    # The bucket as the ORM stores it (SQLite: text without the offset), so the unique key and equality lookups
    # meet the rows written by bulk loads and read by the selectors.
    bucket = model._meta.get_field("bucket")
    params: list[Any] = []
    for period, start, *dims in keys:
        params += [period, bucket.get_db_prep_value(start, connection), *dims, *extra.values(), *counters.values()]
    sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(keys))} "
    sql += f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _tool_calls_by_run(run_ids: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    steps = RunStep.objects.filter(run_id__in=list(run_ids), type=RunStep.Type.TOOL_CALLS)
    for step in steps.only("run_id", "step_details"):
        counts[step.run_id] += len(step.tool_calls)
    return counts


def usage_record_run(run_id: str, *, held: Run | None = None, changes: Mapping[str, Any] | None = None) -> None:
    """Add one run that has just reached its final status (its ``usage_counted`` set by the same transaction).

    ``held`` is the run as its worker holds it (thread loaded) and ``changes`` the fields of the final UPDATE: the
    run is then not read back, and the rollup costs one upsert (the worker's path, where it is measured).
    """
    if held is not None:
        # A run offered no tool made no tool call: its steps are only read when it was offered some.
        tool_calls = _tool_calls_by_run([run_id]).get(run_id, 0) if held.tools else 0
        tally = UsageTally()
        tally.add(_held_values(held, changes or {}), tool_calls=tool_calls)
        tally.write()
        return
    tool_steps = Exists(RunStep.objects.filter(run_id=OuterRef("pk"), type=RunStep.Type.TOOL_CALLS))
    run = Run.objects.filter(pk=run_id).values(*RUN_USAGE_FIELDS, tool_steps=tool_steps).first()
    if run is None:
        return
    tally = UsageTally()
    # Most runs call no tool: their steps are only read when there are tool-call steps to count.
    tally.add(run, tool_calls=_tool_calls_by_run([run_id]).get(run_id, 0) if run["tool_steps"] else 0)
    tally.write()


def _held_values(run: Run, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The RUN_USAGE_FIELDS of a run in memory, as its final UPDATE (``changes``) leaves it."""
    values = {name: changes.get(name, getattr(run, name, None)) for name in RUN_USAGE_FIELDS if "__" not in name}
    values["thread__project_id"] = run.thread.project_id
    return values


def usage_count_run(run_id: str) -> bool:
    """Count a finished run that no transition counted (a mirrored run); False if it was counted already."""
    with transaction.atomic():
        claimed = Run.objects.filter(pk=run_id, usage_counted=False, status__in=TERMINAL_RUN_STATUSES).update(
            usage_counted=True
        )
        if claimed:
            usage_record_run(run_id)
    return bool(claimed)


def _uncounted(since: datetime | None = None) -> Any:
    runs = Run.objects.filter(usage_counted=False, status__in=TERMINAL_RUN_STATUSES)
    return runs.filter(created_at__gte=since) if since else runs


def usage_count_threads(thread_ids: list[str] | QuerySet[Any]) -> int:
    """Count the uncounted finished runs of these threads, before they are deleted (retention)."""
    return _count_batch(_uncounted().filter(thread_id__in=thread_ids), spans=False)


def runs_settle(*, batches: int | None = None) -> int:
    """Settle the runs the engine finished (``run_transition(..., settle_later=True)``): add them to the usage
    rollups and move their trace spans to RunSpan, SETTLE_BATCH runs per transaction (a few statements each);
    ``batches`` bounds how many transactions. Returns how many runs.

    Exactly once: a batch locks its runs (skipping those another settle holds; SQLite's writes are serialised),
    marks them counted and writes their rollups and spans in the same transaction. Nothing is lost when a worker
    dies: a finished run carries its counts and its spans in its own row until it is settled, by the worker's
    next runs, beat's run sweep (every 5 s) or the usage backfill.
    """
    total = 0
    while batches is None or batches > 0:
        counted = _count_batch(_uncounted(), SETTLE_BATCH)
        total += counted
        batches = None if batches is None else batches - 1
        if counted < SETTLE_BATCH:  # the last of them (no read of an empty batch after it)
            break
    return total


def _count_batch(candidates: Any, limit: int | None = None, *, spans: bool = True) -> int:
    """Count a batch of finished runs: one locked read of them, one UPDATE marking them counted, their tool-call
    steps when any was offered tools, the rollup upserts, and their pending spans in one INSERT (not ``spans``:
    runs about to be deleted)."""
    from agents_admin.services.traces import pending_spans_write

    fields = (*RUN_USAGE_FIELDS, "thread_id", "tools", *(("trace_pending",) if spans else ()))
    with transaction.atomic():
        locked = candidates.order_by("created_at", "id").select_for_update(skip_locked=True, of=("self",))
        runs = list(locked.values(*fields)[:limit] if limit else locked.values(*fields))
        if not runs:
            return 0
        ids = [run["id"] for run in runs]
        Run.objects.filter(pk__in=ids).update(usage_counted=True, **({"trace_pending": None} if spans else {}))
        tally = UsageTally()
        # A run offered no tool made no tool call: steps are only read for the runs that were offered some.
        tool_calls = _tool_calls_by_run(offered) if (offered := [run["id"] for run in runs if run["tools"]]) else {}
        for run in runs:
            tally.add(run, tool_calls=tool_calls.get(run["id"], 0))
        if spans:
            pending_spans_write([run for run in runs if run["trace_pending"]])
        tally.write()
    return len(ids)


def usage_backfill(*, since: datetime | None = None, progress: Any = None) -> int:
    """Count every finished run not yet in the rollups, a batch per transaction; returns how many."""
    total = 0
    while counted := _count_batch(_uncounted(since), BACKFILL_BATCH):
        total += counted
        if progress is not None:
            progress(total)
    if total:
        logger.info("usage: counted %d finished runs", total)
    return total


def usage_rebuild(*, since: datetime, actor: Actor = None, actor_label: str = "", progress: Any = None) -> int:
    """Recount the rollups from ``since`` (rounded down to its day) out of the runs still in the database.

    Usage of runs that retention has deleted since then is lost: that is why this is not the default. The runs
    are marked uncounted before their rows go, in one transaction, so a run finishing meanwhile either waits for
    it (its row is locked) and is then counted live, or was counted before and is counted again by the backfill.
    """
    start = day_start(since)
    with transaction.atomic():
        runs = Run.objects.filter(created_at__gte=start, usage_counted=True).update(usage_counted=False)
        rows = UsageRollup.objects.filter(bucket__gte=start).delete()[0]
        UsageErrorCount.objects.filter(bucket__gte=start).delete()
        audit_record(
            action="usage.recount", actor=actor, actor_label=actor_label, object_type="usage",
            object_id=start.date().isoformat(), before={"rollup_rows": rows}, after={"runs_to_recount": runs},
        )  # fmt: skip
    return usage_backfill(since=start, progress=progress)


# --- the price table -----------------------------------------------------------------------------------------

PRICE_FIELDS = ("model", "effective_from", "input_per_million", "output_per_million", "currency")


def _price_values(price: ModelPrice) -> dict[str, str]:
    return {name: str(getattr(price, name)) for name in PRICE_FIELDS}


def price_save(
    *, price: ModelPrice | None, fields: dict[str, Any], actor: Actor = None, actor_label: str = ""
) -> ModelPrice:
    """Add a model's price from a day on, or correct one; Conflict when that model already has a price from
    that day (one price per model and day keeps "the price in force" unambiguous)."""
    before = _price_values(price) if price is not None else None
    target = price or ModelPrice()
    for name in PRICE_FIELDS:
        setattr(target, name, fields[name])
    try:
        with transaction.atomic():
            target.save()
            old, new = changed_fields(before, _price_values(target)) if before else (None, _price_values(target))
            audit_record(
                action="price.update" if before else "price.create", actor=actor, actor_label=actor_label,
                object_type="price", object_id=str(target.pk), before=old, after=new,
            )  # fmt: skip
    except IntegrityError as exc:
        raise Conflict(
            f"{fields['model']} already has a price from {fields['effective_from']}; edit that one.",
            param="effective_from",
        ) from exc
    return target


def price_delete(*, price: ModelPrice, actor: Actor = None, actor_label: str = "") -> None:
    """Remove a price: the days it covered take the previous price of the model, or none."""
    with transaction.atomic():
        audit_record(
            action="price.delete", actor=actor, actor_label=actor_label, object_type="price",
            object_id=str(price.pk), before=_price_values(price),
        )  # fmt: skip
        price.delete()
