"""Reads about threads: one thread, and THE thread filter that the thread list, search and exports share.

``ThreadFilters`` is what a filter query string means (``ThreadFilters.from_params`` is its only parser, which
the console's ThreadFilterForm and the stored params of an export job both go through); ``threads_matching``
turns it into a Thread queryset, and ``thread_list`` into one keyset page of it (never OFFSET, never COUNT over
big tables), so a page costs the same at the first thread as at the 100,000th.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    CharField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    prefetch_related_objects,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat
from django.http import Http404
from django.utils import timezone

from agents_admin.lib import keyset
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    Agent,
    Message,
    Project,
    Run,
    RunStatus,
    Thread,
    ThreadFlag,
    ThreadNote,
)
from agents_admin.selectors.home import table_count_estimate
from agents_admin.selectors.projects import project_id_named
from agents_admin.selectors.retention import holds_active
from agents_admin.validation import FLAG_NAME

THREADS_PER_PAGE = 25
METADATA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
HAS_FAILED_RUN = "has_failed"
RUN_STATUSES = {HAS_FAILED_RUN, *RunStatus.values}
NO_SUCH_ID = 0  # auto ids start at 1: a filter on an unknown name matches nothing
# A standard flag is a Thread column with its own partial index (see Thread.flag_escalated). A free tag on at most
# this many threads filters a page by their ids (then a small sort); a commoner flag is
# probed per row while walking the activity index, which finds a page of matches quickly. The sort reads each
# flagged thread's row and the walk steps over about 25 / share-of-threads-flagged index entries, each with a
# probe of the flags: on SQLite (5 us a row, 0.5 us a probe) they cost the same near 500 flagged threads of
# 100k, on PostgreSQL (a probe costs 2 us) near 2,000. Measured on 100k threads with "escalated" on 680: SQLite
# 3.8 ms by ids, 1.9 ms by walking; PostgreSQL 27 ms by ids, 35 ms by walking (whole page).
FLAG_IDS_INLINE_LIMIT = {"sqlite": 500, "postgresql": 2_000}
# More threads than this with one metadata pair make it a common one (see threads_matching).
METADATA_SET_LIMIT = 2_000


def thread_get(thread_id: str) -> Thread:
    try:
        return Thread.objects.select_related("project").get(pk=thread_id)
    except Thread.DoesNotExist:
        raise Http404(f"No thread {thread_id}.") from None


# --- the filter ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadFilters:
    """Which threads to show: every field narrows, an empty one does not. The same meaning on the thread list,
    on search (whose words then match messages of these threads only) and in exports."""

    project: str = ""  # Project.name
    agent: str = ""  # the id of the thread's last agent
    date_from: date | None = None  # last activity on or after this day (the console's time zone)
    date_to: date | None = None  # last activity on or before this day
    run_status: str = ""  # HAS_FAILED_RUN (any run ever failed), or the status of the thread's last run
    metadata_key: str = ""
    metadata_value: str = ""
    flag: str = ""  # a standard flag or a free tag
    has_notes: bool = False
    on_hold: bool = False  # an active hold (selectors.retention.holds_active)

    # The query-string names, in the order the forms show them; ``meta`` is "key=value".
    PARAMS = ("project", "agent", "date_from", "date_to", "run_status", "meta", "flag", "has_notes", "on_hold")

    def is_empty(self) -> bool:
        return self == ThreadFilters()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> tuple[ThreadFilters, dict[str, str]]:
        """The filters a query string (or an export job's stored params) asks for, and an error message per
        invalid parameter. An invalid parameter is left out rather than failing: a page still shows something."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in cls.PARAMS:
            raw = params.get(name)
            if raw is None or raw == "":
                continue
            try:
                values.update(_parse(name, raw))
            except ValueError as error:
                errors[name] = str(error)
        if values.get("date_from") and values.get("date_to") and values["date_from"] > values["date_to"]:
            del values["date_to"]
            errors["date_to"] = "The end date is before the start date."
        return cls(**values), errors

    def to_params(self) -> dict[str, str]:
        """The query-string parameters that ``from_params`` reads back as these filters (set ones only)."""
        params = {
            "project": self.project,
            "agent": self.agent,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "run_status": self.run_status,
            "meta": f"{self.metadata_key}={self.metadata_value}" if self.metadata_key else "",
            "flag": self.flag,
            "has_notes": "on" if self.has_notes else "",
            "on_hold": "on" if self.on_hold else "",
        }
        return {name: value for name, value in params.items() if value}


def _parse(name: str, raw: Any) -> dict[str, Any]:
    """One query-string parameter as ThreadFilters fields; ValueError with a message for a person otherwise."""
    text = str(raw).strip()
    if name in ("date_from", "date_to"):
        try:
            return {name: date.fromisoformat(text)}
        except ValueError:
            raise ValueError("Enter a valid date.") from None
    if name == "run_status":
        if text not in RUN_STATUSES:
            raise ValueError(f"Select a valid choice. {text} is not one of the available choices.")
        return {name: text}
    if name == "meta":
        key, sep, value = text.partition("=")
        if not sep or not METADATA_KEY.match(key.strip()):
            raise ValueError("Use key=value, with a key of letters, digits, '_', '.' or '-'.")
        return {"metadata_key": key.strip(), "metadata_value": value.strip()}
    if name == "flag":
        if not FLAG_NAME.match(text.lower()):
            raise ValueError("A flag is lower-case letters, digits and '-'.")
        return {name: text.lower()}
    if name in ("has_notes", "on_hold"):
        # As a checkbox posts it: "on" when ticked; "false"/"0"/"off" count as not ticked.
        return {name: text.lower() not in ("", "0", "false", "off")}
    return {name: text}


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def threads_matching(
    filters: ThreadFilters,
    *,
    paged: bool = False,
    per_thread: bool = False,
    metadata_common: bool | None = None,
) -> QuerySet[Thread]:
    """Threads matching ``filters`` (unordered). Each filter is an indexed column or a set read from an index.

    ``paged``: the caller walks the activity index and stops after a page, so a free tag is its few thread ids
    (up to FLAG_IDS_INLINE_LIMIT, read here in one bounded query) or else a probe per row, never a whole set.
    ``per_thread`` makes the sets probes of one thread's rows instead, for a query that tests threads one at a time
    (a set would be read whole first, whatever few threads are tested). ``metadata_common`` is the answer of
    metadata_is_common when the caller has it already.
    """
    qs = Thread.objects.all()
    if filters.project:
        # The project's id, not a join on its name: with a join SQLite walks every thread of the project even when
        # another filter (a failed run, say) has a far smaller index.
        project_id = project_id_named(filters.project)
        qs = qs.filter(project_id=project_id if project_id is not None else NO_SUCH_ID)
    if filters.agent:
        qs = qs.filter(last_agent_id=filters.agent)
    # Last activity, the column the lists are sorted by: a range of the same index they walk.
    if filters.date_from:
        qs = qs.filter(last_activity_at__gte=_day_start(filters.date_from))
    if filters.date_to and filters.date_to < date.max:  # the last day there is: no upper bound
        qs = qs.filter(last_activity_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    if filters.run_status == HAS_FAILED_RUN:
        qs = qs.filter(has_failed_run=True)  # denormalised: an index lookup, not an EXISTS over runs
    elif filters.run_status:
        qs = qs.filter(last_run_status=filters.run_status)
    if filters.metadata_key and METADATA_KEY.match(filters.metadata_key) and connection.vendor == "postgresql":
        # jsonb containment, which the GIN index thread_metadata_gin serves.
        qs = qs.filter(metadata__contains={filters.metadata_key: filters.metadata_value})
    elif filters.metadata_key and METADATA_KEY.match(filters.metadata_key):
        # SQLite cannot index arbitrary JSON keys: migration 0002 keeps a (thread, key, value) side table in step
        # with Thread.metadata by triggers, so the filter is one index lookup whatever the number of threads. A pair
        # on few threads is read as a set (an index range); one on many is probed per thread, since SQLite would
        # otherwise read the whole set before the first row (36 ms for one channel's 33,000 threads).
        if not per_thread and metadata_common is None:
            metadata_common = metadata_is_common(filters.metadata_key, filters.metadata_value)
        meta_per_thread = per_thread or bool(metadata_common)
        meta = (
            'EXISTS (SELECT 1 FROM agents_admin_thread_meta m2 WHERE m2.thread_id = "agents_admin_thread"."id" '
            "AND m2.key = %s AND m2.value = %s)"
            if meta_per_thread
            else '"agents_admin_thread"."id" IN '
            "(SELECT thread_id FROM agents_admin_thread_meta WHERE key = %s AND value = %s)"
        )
        qs = qs.filter(RawSQL(meta, [filters.metadata_key, filters.metadata_value], output_field=BooleanField()))
    if filters.flag:
        qs = qs.filter(_flagged(filters.flag, paged=paged, per_thread=per_thread))
    if filters.has_notes and per_thread:
        qs = qs.filter(Exists(ThreadNote.objects.filter(thread=OuterRef("pk"))))
    elif filters.has_notes:
        qs = qs.filter(pk__in=ThreadNote.objects.values("thread_id"))
    if filters.on_hold:
        qs = qs.filter(pk__in=holds_active(timezone.now()).values("thread_id"))
    return qs


def _flagged(flag: str, *, paged: bool, per_thread: bool) -> Q:
    column = ThreadFlag.THREAD_FIELDS.get(flag)
    if column is not None:  # a standard flag: its own partial index in activity order
        return Q(**{column: True})
    probe = Q(Exists(ThreadFlag.objects.filter(thread=OuterRef("pk"), name=flag)))
    if per_thread:
        return probe
    flagged = ThreadFlag.objects.filter(name=flag).order_by().values_list("thread_id", flat=True)
    if not paged:
        # IN (a set from the flag's index) rather than EXISTS per thread: search and exports read the filtered set
        # whole, and a probe per thread would read all 100k of them to build it.
        return Q(pk__in=flagged)
    limit = FLAG_IDS_INLINE_LIMIT.get(connection.vendor, 2_000)
    ids = list(flagged[: limit + 1])
    return Q(id__in=ids) if len(ids) <= limit else probe


def metadata_is_common(key: str, value: str) -> bool:
    """Whether more than METADATA_SET_LIMIT threads carry ``key=value`` (SQLite's side table): counts at most that
    many index entries."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM agents_admin_thread_meta WHERE key = %s AND value = %s LIMIT %s)",
            [key, value, METADATA_SET_LIMIT + 1],
        )
        return int(cursor.fetchone()[0]) > METADATA_SET_LIMIT


def thread_filter_choices() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The thread filter's choices: (name, display name) of every project by name, and (id, name) of every agent
    by name then id. One query for both small tables, so a filtered list costs one read of choices."""
    projects = Project.objects.order_by().values(kind=Value(0), key=F("name"), label=F("display_name"), sort=F("name"))
    # An agent is named with its project: two projects may each have a "support" agent.
    label = Concat(F("name"), Value(" · "), F("project__name"), output_field=CharField())
    agents = Agent.objects.order_by().values(kind=Value(1), key=F("id"), label=label, sort=F("name"))
    rows = list(projects.union(agents, all=True).order_by("kind", "sort", "key"))
    return (
        [(row["key"], row["label"]) for row in rows if row["kind"] == 0],
        [(row["key"], row["label"]) for row in rows if row["kind"] == 1],
    )


# --- the thread list ----------------------------------------------------------------------------------------


@dataclass
class ThreadPage:
    threads: list[Thread]
    next_cursor: str = ""


# The list's sort orders: the column each walks (newest or largest first, then id), by the name the URL uses.
SORTS = {"activity": "last_activity_at", "created": "created_at", "messages": "message_count"}
SORT_LABELS = {"activity": "Last activity", "created": "Created", "messages": "Message count"}
DEFAULT_SORT = "activity"


def thread_list(
    filters: ThreadFilters | None = None,
    *,
    cursor: str = "",
    limit: int = THREADS_PER_PAGE,
    sort: str = DEFAULT_SORT,
) -> ThreadPage:
    """Threads matching ``filters``, newest activity first (or newest created, or most messages: ``sort``), one
    keyset page after ``cursor``, with each thread's flags and whether it is on hold: the /threads/ list, and
    /search/ without words.

    Served by the index of the sort order (thread_activity, thread_created_order, thread_message_count), or for
    activity the index of the narrowest filter in activity order (project, agent, last run status, a failed run, a
    standard flag). A free tag is read as its ids when it is rare (see threads_matching). Two queries (three with a
    free tag or a project); the hold is a probe of the open-holds index for each row of the page.
    """
    column = SORTS.get(sort, SORTS[DEFAULT_SORT])
    qs = threads_matching(filters or ThreadFilters(), paged=True).select_related("last_agent", "project")
    qs = qs.annotate(on_hold=Exists(holds_active(timezone.now()).filter(thread=OuterRef("pk"))))
    qs = qs.order_by(f"-{column}", "-id")
    position = _cursor_decode(cursor, column)
    if position is not None:
        qs = qs.filter(keyset.after(column, position))
    rows = list(qs[: limit + 1])
    page = ThreadPage(threads=rows[:limit])
    if len(rows) > limit:
        last = rows[limit - 1]
        value = getattr(last, column)
        page.next_cursor = (
            keyset.cursor_encode(value, last.id)
            if isinstance(value, datetime)
            else keyset.int_cursor_encode(value, last.id)
        )
    prefetch_related_objects(page.threads, "flags")  # the page's flags in one query
    return page


def _cursor_decode(cursor: str, column: str) -> tuple[Any, str] | None:
    if column == "message_count":
        return keyset.int_cursor_decode(cursor)
    return keyset.cursor_decode(cursor)  # type: ignore[return-value]


# Up to this many matches the list counts them exactly (a bounded read of at most this many index entries);
# above, it shows the planner's estimate, or "more than" on SQLite for a filtered list (it has no estimate).
COUNT_EXACT_LIMIT = 1_000


@dataclass
class ThreadCount:
    value: int
    estimated: bool = False  # the planner's estimate: shown as "about"
    at_least: bool = False  # more than ``value``, no estimate to give


def thread_count(filters: ThreadFilters) -> ThreadCount:
    """How many threads match ``filters``, never by counting more than COUNT_EXACT_LIMIT rows: above it, the
    statistics' row count of the table for the unfiltered list, else the planner's estimate (PostgreSQL)."""
    qs = threads_matching(filters, paged=True)
    exact = qs.order_by().values("pk")[: COUNT_EXACT_LIMIT + 1].count()
    if exact <= COUNT_EXACT_LIMIT:
        return ThreadCount(exact)
    if filters.is_empty():
        total = table_count_estimate(Thread)
        return ThreadCount(total.value, estimated=total.estimated)
    if connection.vendor == "postgresql":
        sql, params = qs.order_by().values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        rows = int(plan[0]["Plan"]["Plan Rows"])
        if rows > COUNT_EXACT_LIMIT:
            return ThreadCount(rows, estimated=True)
    return ThreadCount(COUNT_EXACT_LIMIT, at_least=True)


# --- the thread page ----------------------------------------------------------------------------------------

MESSAGES_PER_PAGE = 50
THREAD_RUNS = 10
# What the conversation shows of a message: the row also holds attachments, metadata and other JSON it never shows.
MESSAGE_FIELDS = ("id", "thread_id", "seq", "role", "content", "text", "status", "created_at", "run_id")
# What the run panel and the runs list show of a run: the run row has some forty columns (instructions, tools,
# options as JSON) that the page never shows.
RUN_FIELDS = (
    *("id", "thread_id", "agent_id", "agent_ref", "agent_version", "status", "model", "connection_id"),
    *("required_action", "last_error", "incomplete_details", "prompt_tokens", "completion_tokens", "total_tokens"),
    *("created_at", "started_at", "completed_at", "failed_at", "cancelled_at", "expires_at"),
    *("remote_project_id", "remote_id"),
)


@dataclass
class MessagePage:
    messages: list[Message]
    earlier_before: int | None  # pass as ``before`` to load the page before this one


def message_page(
    thread_id: str,
    *,
    before: int | None = None,
    exclude_run_id: str | None = None,
    steps_also_for: Run | None = None,
    per_page: int = MESSAGES_PER_PAGE,
) -> MessagePage:
    """One page of messages, oldest first, the latest page unless ``before`` a seq; two queries.

    Messages of ``exclude_run_id`` are left out because the run panel shows them live. Each message comes with its
    run's status and the run's steps, so tool calls render inline; ``steps_also_for`` (the run panel's run) gets its
    steps in the same query. Walks the (thread, seq) unique index newest first.
    """
    messages = Message.objects.filter(thread_id=thread_id).select_related("run")
    messages = messages.only(*MESSAGE_FIELDS, "run__id", "run__status").order_by("-seq")
    if before is not None:
        messages = messages.filter(seq__lt=before)
    if exclude_run_id is not None:
        messages = messages.exclude(run_id=exclude_run_id)
    rows = list(messages[: per_page + 1])
    page = rows[:per_page][::-1]
    runs = [message.run for message in page if message.run is not None]
    prefetch_related_objects([*runs, steps_also_for] if steps_also_for else runs, "steps")
    return MessagePage(messages=page, earlier_before=page[0].seq if len(rows) > per_page else None)


def thread_runs(thread_id: str, *, limit: int = THREAD_RUNS) -> list[Run]:
    """The latest runs, newest first, with ``agent_name`` and ``connection_name`` (None when there is none); the
    first is the one the run panel shows. One query on the (thread, created_at) index."""
    runs = Run.objects.filter(thread_id=thread_id).only(*RUN_FIELDS)
    runs = runs.annotate(agent_name=F("agent__name"), connection_name=F("connection__name"))
    return list(runs.order_by("-created_at", "-id")[:limit])


# At most this many runs are placed among one page's messages (the newest of its window); a page holds 50 messages.
TRANSCRIPT_RUNS = 100


def transcript_runs(thread_id: str, page: MessagePage, *, before: int | None) -> list[Run]:
    """The runs started while the page's messages were the thread's newest, oldest first: from the page's first
    message (from the start on the first page) to the next page's first message (no end on the latest page).
    One query on the (thread, created_at) index."""
    runs = Run.objects.filter(thread_id=thread_id).only(*RUN_FIELDS)
    runs = runs.annotate(agent_name=F("agent__name"), connection_name=F("connection__name"))
    if page.earlier_before is not None and page.messages:
        runs = runs.filter(created_at__gte=page.messages[0].created_at)
    if before is not None:
        following = Message.objects.filter(thread_id=thread_id, seq__gte=before).order_by("seq")
        runs = runs.filter(created_at__lt=Subquery(following.values("created_at")[:1]))
    return list(runs.order_by("-created_at", "-id")[:TRANSCRIPT_RUNS])[::-1]


@dataclass(frozen=True)
class TranscriptEntry:
    """One item of the thread page's transcript: a message, or a run placed where it happened."""

    message: Message | None = None
    run: Run | None = None


def transcript(messages: list[Message], runs: list[Run], *, panel_run_id: str | None = None) -> list[TranscriptEntry]:
    """Messages in order, each run after the message it answered: just before its first reply when that is on the
    page, else after the last message written before it started, so a run that failed, was cancelled or expired
    without a reply shows where it happened. A completed run whose replies are on the page needs no line of its
    own (each reply carries its run); the run panel's run always has its place."""
    first_reply: dict[str, int] = {}
    for index, message in enumerate(messages):
        if message.run_id is not None:
            first_reply.setdefault(message.run_id, index)
    placed: dict[int, list[Run]] = {}
    for run in runs:
        if run.id in first_reply and run.status == RunStatus.COMPLETED and run.id != panel_run_id:
            continue
        at = first_reply.get(run.id)
        if at is None:
            at = max((i + 1 for i, m in enumerate(messages) if m.created_at <= run.created_at), default=0)
        placed.setdefault(at, []).append(run)
    entries: list[TranscriptEntry] = []
    for index, message in enumerate(messages):
        entries.extend(TranscriptEntry(run=run) for run in placed.get(index, ()))
        entries.append(TranscriptEntry(message=message))
    entries.extend(TranscriptEntry(run=run) for run in placed.get(len(messages), ()))
    return entries


@dataclass(frozen=True)
class ThreadDeleteEffect:
    """What deleting a thread takes with it, and what stops it (a hold, an active run)."""

    messages: int
    runs: int
    held: bool
    active_run: bool


def thread_delete_effect(thread: Thread) -> ThreadDeleteEffect:
    """Counts for the delete confirmation: the denormalised message count, the thread's runs (on its index)."""
    runs = Run.objects.filter(thread=thread)
    return ThreadDeleteEffect(
        messages=thread.message_count,
        runs=runs.count(),
        held=holds_active(timezone.now()).filter(thread_id=thread.pk).exists(),
        active_run=runs.filter(status__in=ACTIVE_RUN_STATUSES).exists(),
    )
