"""Reads about threads: one thread, and the thread list, keyset-paginated (never OFFSET, never COUNT over big
tables), so a page costs the same at the first thread as at the 100,000th."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.utils import timezone

from agents_admin.lib import keyset
from agents_admin.models import (
    Agent,
    Thread,
    ThreadFlag,
)
from agents_admin.selectors.search import thread_flags

THREADS_PER_PAGE = 25
# A standard flag is a Thread column with its own partial index (see Thread.flag_escalated). A free tag on at most
# this many threads filters the list by their ids (then a small sort); a commoner flag is
# probed per row while walking the activity index, which finds a page of matches quickly. The sort reads each
# flagged thread's row and the walk steps over about 25 / share-of-threads-flagged index entries, each with a
# probe of the flags: on SQLite (5 us a row, 0.5 us a probe) they cost the same near 500 flagged threads of
# 100k, on PostgreSQL (a probe costs 2 us) near 2,000. Measured on 100k threads with "escalated" on 680: SQLite
# 3.8 ms by ids, 1.9 ms by walking; PostgreSQL 27 ms by ids, 35 ms by walking (whole page).
FLAG_IDS_INLINE_LIMIT = {"sqlite": 500, "postgresql": 2_000}


def thread_get(thread_id: str) -> Thread:
    try:
        return Thread.objects.get(pk=thread_id)
    except Thread.DoesNotExist:
        raise Http404(f"No thread {thread_id}.") from None


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
