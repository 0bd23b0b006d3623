"""Database upkeep the worker does on a schedule (hourly, the database-upkeep beat entry)."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from agents_admin.services.retention import tombstones_prune

# The table ANALYZE samples instead of reading whole: its indexes are only ever used by thread id or by id, where
# any statistics pick the right one, and a full pass costs 0.6 s a million messages.
SAMPLED_TABLES = {"agents_admin_message": 10_000}


def database_statistics_refresh() -> bool:
    """Refresh the query planner's statistics where nothing else does; True when it did.

    SQLite has no autovacuum: without statistics (sqlite_stat1) its planner guesses, and with statistics from an
    older, smaller database it can drive a thread page from the projects table and sort every thread instead of
    walking the activity index (measured: 54 ms instead of 2 ms on 100k threads). The thread-level tables are read
    whole (0.2 s for 100k threads): a sampled pass (analysis_limit) misjudges low-cardinality columns such as the
    project, and the planner then picks the wrong index. PostgreSQL's autovacuum keeps its own statistics current,
    so there is nothing to do there.
    """
    if connection.vendor != "sqlite":
        return False
    tables = [t for t in connection.introspection.table_names() if not t.startswith("agents_admin_message_fts")]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"PRAGMA analysis_limit = {SAMPLED_TABLES.get(table, 0)}")
            cursor.execute(f'ANALYZE "{table}"')
        cursor.execute("PRAGMA analysis_limit = 0")
    return True


# Pages of the SQLite full-text index merged per step, and the time the upkeep may spend on merging per run. Each
# step is its own short transaction, so runs writing messages wait at most one step (about 0.1 s).
SEARCH_MERGE_PAGES = 1000
SEARCH_MERGE_SECONDS = 30.0


def search_index_merge(*, budget_seconds: float = SEARCH_MERGE_SECONDS) -> int:
    """Merge the SQLite full-text index's segments, a step at a time, until nothing is left to merge or the time
    budget is spent; returns the steps taken (0 on PostgreSQL, whose GIN index needs no such care).

    Every message insert adds a small segment that FTS5 merges only lazily; a query then looks in every segment.
    Merged, a search limited to a few threads looks each message up three to four times faster (10.6 -> 2.6 ms
    for 257 messages on the 1M-message bench database); measured: 20 steps, 1.9 s.
    """
    if connection.vendor != "sqlite":
        return 0
    started, steps = time.monotonic(), 0
    while time.monotonic() - started < budget_seconds:
        with transaction.atomic(), connection.cursor() as cursor:
            before = _total_changes(cursor)
            cursor.execute(
                "INSERT INTO agents_admin_message_fts(agents_admin_message_fts, rank) VALUES ('merge', %s)",
                [-SEARCH_MERGE_PAGES],
            )
            changed = _total_changes(cursor) - before
        steps += 1
        if changed < 2:  # FTS5's own signal that no merge work is left
            break
    return steps


def _total_changes(cursor: CursorWrapper) -> int:
    cursor.execute("SELECT total_changes()")
    return int(cursor.fetchone()[0])


def postgres_vacuum_if_unattended() -> bool:
    """``VACUUM (ANALYZE)`` the app's tables when the PostgreSQL server does not (autovacuum off); True when it ran.

    PostgreSQL's autovacuum (on by default) keeps planner statistics current, folds the full-text index's pending
    list into the index and marks pages all-visible. A server run with it off gets none of that unless someone
    schedules it: measured on the 1M-message bench database loaded with autovacuum off, the GIN pending list held
    6,500 entries that every search read whole, and plans were made without statistics. Each table is its own
    statement, outside any transaction (VACUUM refuses one).
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:  # VACUUM cannot run in a transaction
        return False
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            return False
        for table in connection.introspection.table_names():
            if table.startswith("agents_admin_") or table == "django_session":
                cursor.execute(f'VACUUM (ANALYZE) "{table}"')
    return True


def database_upkeep() -> dict[str, object]:
    """The hourly pass: expired thread tombstones, planner statistics (and on an unattended PostgreSQL a vacuum),
    then the full-text index's merges."""
    return {
        "tombstones_pruned": tombstones_prune(),
        "statistics": database_statistics_refresh(),
        "vacuum": postgres_vacuum_if_unattended(),
        "search_merge_steps": search_index_merge(),
    }


# --- worker liveness --------------------------------------------------------------------------------------

WORKER_PROBE_PREFIX = "worker-probe:"


def worker_probe_answer(*, key: str) -> None:
    """The body of the liveness probe's task: a database round trip, then the answer in the shared cache, where
    ``manage.py worker_probe`` waits for it. Executing it proves the worker fetches from its queue, hands the task
    to a pool process, and that process reaches the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    cache.set(WORKER_PROBE_PREFIX + key, time.time(), timeout=120)


def worker_probe_answered(*, key: str) -> bool:
    return cache.get(WORKER_PROBE_PREFIX + key) is not None
