"""Scheduled database upkeep."""

from __future__ import annotations

import pytest
from django.db import connection

from agents_admin.selectors.search import message_search
from agents_admin.services.maintenance import (
    database_statistics_refresh,
    database_upkeep,
    postgres_vacuum_if_unattended,
    search_index_merge,
)
from dashboard.celery import app
from tests.factories import make_thread

pytestmark = pytest.mark.django_db


def _sqlite_index_stats() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if not cursor.fetchone():
            return set()
        cursor.execute("SELECT idx FROM sqlite_stat1 WHERE tbl = 'agents_admin_thread'")
        return {row[0] for row in cursor.fetchall() if row[0]}


def test_the_planner_statistics_are_refreshed_on_sqlite_and_left_to_autovacuum_on_postgresql() -> None:
    for n in range(3):
        make_thread(messages=[f"message {n}"], metadata={"customer": f"c{n}"})
    if connection.vendor == "sqlite":
        if _sqlite_index_stats():  # a fresh database has no statistics table until the first ANALYZE
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM sqlite_stat1")
        assert _sqlite_index_stats() == set()
        assert database_statistics_refresh() is True
        # The indexes the thread list and the support filters walk now have statistics the planner reads.
        assert {"thread_activity", "thread_status_activity", "thread_project_activity"} <= _sqlite_index_stats()
    else:
        assert database_statistics_refresh() is False


def test_the_refresh_is_on_the_beat_schedule() -> None:
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "agents_admin.tasks.database_upkeep" in tasks


def _fts_segments() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM agents_admin_message_fts_data")
        return int(cursor.fetchone()[0])


def test_the_search_index_is_merged_in_steps_and_finds_the_same_messages() -> None:
    for n in range(40):  # each insert writes its own small index segment
        make_thread(messages=[f"parcel number {n} is late", "thanks"])
    before = {hit.message.id for hit in message_search(q="parcel", limit=100).hits}
    assert len(before) == 40
    if connection.vendor == "sqlite":
        pages = _fts_segments()
        steps = search_index_merge()
        assert steps >= 1 and _fts_segments() < pages
        assert search_index_merge() == 1  # nothing left: one step finds no work
    else:
        assert search_index_merge() == 0
    assert {hit.message.id for hit in message_search(q="parcel", limit=100).hits} == before
    assert set(database_upkeep()) == {"tombstones_pruned", "statistics", "vacuum", "search_merge_steps"}


def _last_vacuum(table: str) -> object:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # VACUUM refuses to run inside a transaction
def test_postgresql_tables_are_vacuumed_only_when_the_server_does_not_do_it_itself() -> None:
    make_thread(messages=["hello"])
    if connection.vendor != "postgresql":
        assert postgres_vacuum_if_unattended() is False
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0] == "on"
    before = _last_vacuum("agents_admin_message")
    assert postgres_vacuum_if_unattended() is (not autovacuum)
    if not autovacuum:
        after = _last_vacuum("agents_admin_message")
        assert after is not None and after != before
