"""Reads for the home page: counts (estimated on big tables) and the latest runs (its usage glance is in
selectors/usage.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection

from agents_admin.models import Agent, Run, Thread

RECENT_RUNS = 10
# Below this many rows an exact COUNT is cheap; above it the planner's estimate is close enough for a tile.
EXACT_COUNT_LIMIT = 10_000


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
    threads = table_count_estimate(Thread)
    return {
        "agent_count": Agent.objects.count(),
        "thread_count": threads.value,
        "thread_count_estimated": threads.estimated,
    }


def runs_recent(limit: int = RECENT_RUNS) -> list[Run]:
    """The latest runs with what the home page's table shows (home.html): a whole run and agent
    row is some sixty columns, a third of them JSON to decode."""
    runs = Run.objects.select_related("agent").only(
        "id", "thread_id", "agent_id", "agent_ref", "status", "created_at", "agent__name"
    )
    return list(runs.order_by("-created_at", "-id")[:limit])
