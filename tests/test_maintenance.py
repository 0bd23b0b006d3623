"""Scheduled database upkeep."""

from __future__ import annotations

import pytest
from django.db import connection

from agents_admin.services.maintenance import database_statistics_refresh
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
    assert "agents_admin.tasks.database_statistics_refresh" in tasks
