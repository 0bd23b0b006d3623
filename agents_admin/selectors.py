"""Reads for the console: each returns what one page region shows, in a bounded number of queries.

Lists are keyset-paginated (never OFFSET, never COUNT over big tables), so a page costs the same at the
first thread as at the 100,000th.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q
from django.http import Http404
from django.utils import timezone

from agents_admin.lib import keyset
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    Agent,
    AgentVersion,
    ModelConnection,
    Run,
    RunStatus,
    Thread,
    ThreadFlag,
)
from agents_admin.selectors_pages import (  # noqa: F401 - the views read these three through this module
    ConversationMessage,
    agent_choices,
    message_page,
    run_messages,
    steps_of_runs,
    thread_runs,
)
from agents_admin.selectors_search import thread_flags

THREADS_PER_PAGE = 25
RECENT_RUNS = 10
# Below this many rows an exact COUNT is cheap; above it the planner's estimate is close enough for a tile.
EXACT_COUNT_LIMIT = 10_000
# The statuses during which the run panel keeps polling; requires_action waits for a person, so it stops.
POLLING_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.CANCELLING)
# A standard flag is a Thread column with its own partial index (see Thread.flag_escalated). A free tag on at most
# this many threads filters the list by their ids (then a small sort); a commoner flag is
# probed per row while walking the activity index, which finds a page of matches quickly. The sort reads each
# flagged thread's row and the walk steps over about 25 / share-of-threads-flagged index entries, each with a
# probe of the flags: on SQLite (5 us a row, 0.5 us a probe) they cost the same near 500 flagged threads of
# 100k, on PostgreSQL (a probe costs 2 us) near 2,000. Measured on 100k threads with "escalated" on 680: SQLite
# 3.8 ms by ids, 1.9 ms by walking; PostgreSQL 27 ms by ids, 35 ms by walking (whole page).
FLAG_IDS_INLINE_LIMIT = {"sqlite": 500, "postgresql": 2_000}


# --- lookups that 404 ----------------------------------------------------------------------------------


def agent_get(agent_id: str) -> Agent:
    try:
        return Agent.objects.get(pk=agent_id)
    except Agent.DoesNotExist:
        raise Http404(f"No agent {agent_id}.") from None


def thread_get(thread_id: str) -> Thread:
    try:
        return Thread.objects.get(pk=thread_id)
    except Thread.DoesNotExist:
        raise Http404(f"No thread {thread_id}.") from None


def run_get(thread: Thread, run_id: str) -> Run:
    try:
        runs = Run.objects.select_related("agent", "connection")
        # The names as the run panel reads them (selectors_pages.thread_runs gives them the same way).
        runs = runs.annotate(agent_name=F("agent__name"), connection_name=F("connection__name"))
        return runs.get(pk=run_id, thread=thread)
    except Run.DoesNotExist:
        raise Http404(f"No run {run_id} on thread {thread.id}.") from None


# --- home ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowCount:
    value: int
    estimated: bool  # from the planner's statistics, not counted: the page says "about"


def table_count_estimate(model: type[Thread]) -> RowCount:
    """Exact for small tables; for big ones the planner's row count (COUNT(*) reads the whole table: 10-30 ms at
    100k threads on SQLite, and it grows with the table). PostgreSQL keeps reltuples current through autovacuum;
    SQLite's sqlite_stat1 is refreshed hourly by services.maintenance."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
            has_statistics = cursor.fetchone() is not None
            # An index's stat starts with its row count; the largest is the table's (partial indexes hold fewer).
            cursor.execute(
                "SELECT MAX(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = %s" if has_statistics else "SELECT -1",
                [table] if has_statistics else [],
            )
        row = cursor.fetchone()
    estimate = int(row[0]) if row and row[0] is not None else -1
    if estimate >= EXACT_COUNT_LIMIT:
        return RowCount(estimate, estimated=True)
    return RowCount(model.objects.count(), estimated=False)


def home_stats() -> dict[str, Any]:
    since = timezone.now() - timedelta(hours=24)
    # One count per status over the day's range of the created_at index, with no GROUP BY: grouping lets SQLite
    # prefer walking the status index over every run ever made (40 ms at 30k runs instead of under 1 ms).
    counts = {status.value: Count("id", filter=Q(status=status.value)) for status in RunStatus}
    by_status = Run.objects.filter(created_at__gte=since).aggregate(**counts)
    threads = table_count_estimate(Thread)
    return {
        "agent_count": Agent.objects.count(),
        "thread_count": threads.value,
        "thread_count_estimated": threads.estimated,
        "runs_by_status": [(status.value, by_status.get(status.value, 0)) for status in RunStatus],
        "runs_24h": sum(by_status.values()),
    }


def runs_recent(limit: int = RECENT_RUNS) -> list[Run]:
    """The latest runs with what the home page's table shows (templatetags/listings.run_rows): a whole run and agent
    row is some sixty columns, a third of them JSON to decode."""
    runs = Run.objects.select_related("agent").only(
        "id", "thread_id", "agent_id", "agent_ref", "status", "created_at", "agent__name"
    )
    return list(runs.order_by("-created_at", "-id")[:limit])


# --- agents --------------------------------------------------------------------------------------------


def agent_list() -> list[Agent]:
    # Agents are few (a project's configuration), so one bounded page is enough for the console.
    return list(Agent.objects.order_by("name", "id")[:500])


@dataclass
class VersionView:
    version: AgentVersion
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


def agent_versions(agent: Agent, limit: int = 50) -> list[VersionView]:
    """The latest versions, newest first, each with the fields it changed relative to the one before.

    A version keeps its model connection by id (the connection may be renamed or deleted later); the page shows
    it as "name (#id)", or "deleted connection (#id)", from one read of the connections named on the page.
    """
    versions = list(AgentVersion.objects.filter(agent=agent).select_related("created_by").order_by("-version")[:limit])
    ids = {v.definition.get("connection") for v in versions if isinstance(v.definition.get("connection"), int)}
    names = dict(ModelConnection.objects.filter(pk__in=ids).values_list("id", "name")) if ids else {}

    def shown(definition: dict[str, Any]) -> dict[str, Any]:
        connection_id = definition.get("connection")
        if not isinstance(connection_id, int):
            return definition
        name = names.get(connection_id, "deleted connection")
        return {**definition, "connection": f"{name} (#{connection_id})"}

    views: list[VersionView] = []
    for index, version in enumerate(versions):
        version.definition = shown(version.definition)  # for display only; never saved
        previous = shown(versions[index + 1].definition) if index + 1 < len(versions) else None
        changes: list[tuple[str, Any, Any]] = []
        if previous is not None:
            for key in version.definition.keys() | previous.keys():
                old, new = previous.get(key), version.definition.get(key)
                if old != new:
                    changes.append((key, old, new))
            changes.sort()
        views.append(VersionView(version=version, changes=changes))
    return views


# --- threads -------------------------------------------------------------------------------------------


def _encode_cursor(thread: Thread) -> str:
    return keyset.cursor_encode(thread.last_activity_at, thread.id)


def decode_cursor(cursor: str) -> tuple[datetime, str | int] | None:
    """The (last_activity_at, id) a cursor points after; None for a missing or mangled cursor."""
    return keyset.cursor_decode(cursor)


@dataclass
class ThreadPage:
    threads: list[Thread]
    next_cursor: str | None
    # Flag names per thread id of this page (read in one query; templatetags/listings.py shows them).
    flags: dict[str, list[str]] = field(default_factory=dict)


def thread_list(
    *,
    agent: Agent | None = None,
    status: str = "",
    created_from: date | None = None,
    created_to: date | None = None,
    flag: str = "",
    cursor: str = "",
    per_page: int = THREADS_PER_PAGE,
) -> ThreadPage:
    """Threads, newest activity first, one keyset page after ``cursor``, with each thread's flags.

    Served by the thread_activity index, or a standard flag's partial index. A free-tag ``flag`` filter first
    reads up to FLAG_IDS_INLINE_LIMIT + 1 tagged thread ids from the (name, thread) index: if that is all of
    them, the page is picked among those ids (a rare tag never walks every thread); otherwise it is an EXISTS
    probe per row while walking the activity index.
    Two queries (three with a flag filter).
    """
    queryset = Thread.objects.select_related("last_agent").order_by("-last_activity_at", "-id")
    if agent is not None:
        queryset = queryset.filter(last_agent=agent)
    if status:
        queryset = queryset.filter(last_run_status=status)
    tz = timezone.get_current_timezone()
    if created_from:
        queryset = queryset.filter(created_at__gte=datetime.combine(created_from, time.min, tzinfo=tz))
    if created_to:
        queryset = queryset.filter(created_at__lt=datetime.combine(created_to + timedelta(days=1), time.min, tzinfo=tz))
    if flag:
        queryset = queryset.filter(_flagged(flag))
    position = decode_cursor(cursor)
    if position is not None:
        queryset = queryset.filter(keyset.after("last_activity_at", position))
    rows = list(queryset[: per_page + 1])
    threads = rows[:per_page]
    return ThreadPage(
        threads=threads,
        next_cursor=_encode_cursor(threads[-1]) if len(rows) > per_page else None,
        flags=thread_flags(t.id for t in threads) if threads else {},
    )


def _flagged(flag: str) -> Q:
    column = ThreadFlag.THREAD_FIELDS.get(flag)
    if column is not None:  # a standard flag: its own partial index in activity order
        return Q(**{column: True})
    flagged = ThreadFlag.objects.filter(name=flag).order_by().values_list("thread_id", flat=True)
    limit = FLAG_IDS_INLINE_LIMIT.get(connection.vendor, 2_000)
    ids = list(flagged[: limit + 1])
    if len(ids) <= limit:
        return Q(id__in=ids)
    return Q(Exists(ThreadFlag.objects.filter(thread=OuterRef("pk"), name=flag)))


@dataclass
class RunPanel:
    run: Run
    steps: list[Any]
    messages: list[ConversationMessage]
    polling: bool
    timings: dict[str, float | None]
    # False when the thread moved on after the run: its messages then sit in the history instead.
    show_messages: bool = True


def run_panel(run: Run, *, with_steps: bool = True) -> RunPanel:
    """What the live run panel shows: status, steps with tool calls, the messages written so far, and at the end
    the error, usage and timings. ``with_steps=False`` leaves the steps to the caller (the thread page reads them
    with the message page's)."""
    end = run.completed_at or run.failed_at or run.cancelled_at
    timings = {
        "queued": (run.started_at - run.created_at).total_seconds() if run.started_at else None,
        "running": (end - run.started_at).total_seconds() if end and run.started_at else None,
        "total": (end - run.created_at).total_seconds() if end else None,
    }
    return RunPanel(
        run=run,
        steps=steps_of_runs({run.id}).get(run.id, []) if with_steps else [],
        messages=run_messages(run.id),
        polling=run.status in POLLING_RUN_STATUSES,
        timings=timings,
    )


def run_messages_at_tail(thread: Thread, panel: RunPanel) -> bool:
    """Whether the run's messages are the thread's last ones (nothing was added after), so the run panel,
    placed below the history, can show them in order.

    No query: message_count is also the last seq handed out (message_create reserves it in the insert's
    transaction, retention's trim renumbers and sets it), so a message after the run's last one exists exactly
    when that seq is below the count. A thread row read before the run's newest message is fine too: that
    message's seq is then above the count, and the run is at the tail.
    """
    return not panel.messages or panel.messages[-1].seq >= thread.message_count


def agents_for_thread(thread: Thread) -> Any:
    """The agents that may run this thread (its project's), e.g. to validate a run form's choice."""
    return Agent.objects.filter(project_id=thread.project_id).order_by("name", "id")


def runs_any_active(runs: list[Run]) -> bool:
    return any(run.status in ACTIVE_RUN_STATUSES for run in runs)
