"""Migrations that move data: run on a database that already holds rows, forwards and back."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from agents_admin.models import Message, Thread
from agents_admin.selectors_search import ThreadFilters, message_search, threads_filtered

BEFORE_FLAGS = [("agents_admin", "0010_export_housekeeping")]


def _migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh loader sees the applied state


def _at(target: list[tuple[str, str]]) -> tuple[MigrationExecutor, Any, Any]:
    """Migrates to ``target``; its executor, its historical models and a project created with them."""
    executor = _migrate(target)
    old = executor.loader.project_state(target).apps
    return executor, old, old.get_model("agents_admin", "Project").objects.create(name="migrated")


@pytest.mark.django_db(transaction=True)
def test_0011_copies_existing_standard_flags_to_their_thread_columns_and_keeps_the_thread_triggers() -> None:
    executor, old, project = _at(BEFORE_FLAGS)
    threads = old.get_model("agents_admin", "Thread").objects
    flags = old.get_model("agents_admin", "ThreadFlag").objects
    escalated = threads.create(id="thread_escalated", project=project, metadata={"plan": "gold"})
    tagged = threads.create(id="thread_tagged", project=project)
    flags.create(thread=escalated, name="escalated")
    flags.create(thread=escalated, name="reviewed")
    flags.create(thread=tagged, name="vip")

    _migrate(executor.loader.graph.leaf_nodes())

    columns = ("flag_needs_follow_up", "flag_escalated", "flag_reviewed")
    assert Thread.objects.values_list(*columns).get(pk=escalated.pk) == (False, True, True)
    assert Thread.objects.values_list(*columns).get(pk=tagged.pk) == (False, False, False)
    assert [t.id for t in threads_filtered(ThreadFilters(flag="escalated")).threads] == [escalated.pk]
    # SQLite's metadata side table is kept by triggers on the thread table: a rebuilt table would have lost them.
    Thread.objects.filter(pk=tagged.pk).update(metadata={"plan": "silver"})
    silver = threads_filtered(ThreadFilters(metadata_key="plan", metadata_value="silver")).threads
    assert [t.id for t in silver] == [tagged.pk]


BEFORE_FTS_THREAD = [("agents_admin", "0011_thread_standard_flags")]


@pytest.mark.django_db(transaction=True)
def test_0012_reindexes_existing_messages_with_their_threads_and_keeps_the_index_in_step() -> None:
    executor, old, project = _at(BEFORE_FTS_THREAD)
    threads = old.get_model("agents_admin", "Thread").objects
    messages = old.get_model("agents_admin", "Message").objects
    acme = threads.create(id="thread_acme", project=project, metadata={"customer": "acme"})
    other = threads.create(id="thread_other", project=project)
    for seq, (thread, text) in enumerate([(acme, "refund please"), (other, "refund too"), (acme, "thanks")], 1):
        messages.create(id=f"msg_{seq}", thread=thread, seq=seq, role="user", text=text, content=[])

    _migrate(executor.loader.graph.leaf_nodes())

    acme_only = ThreadFilters(metadata_key="customer", metadata_value="acme")
    assert {hit.message.id for hit in message_search(q="refund").hits} == {"msg_1", "msg_2"}
    assert [hit.message.id for hit in message_search(q="refund", filters=acme_only).hits] == ["msg_1"]
    # The triggers index new, changed and deleted messages with their thread.
    Message.objects.filter(pk="msg_3").update(text="refund again")
    Message.objects.filter(pk="msg_1").delete()
    assert [hit.message.id for hit in message_search(q="refund", filters=acme_only).hits] == ["msg_3"]
    assert message_search(q="thanks").hits == []

    latest = executor.loader.graph.leaf_nodes()
    _migrate(BEFORE_FTS_THREAD)  # and back: the one-column index, rebuilt from the messages
    try:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT rowid FROM agents_admin_message_fts WHERE agents_admin_message_fts MATCH 'refund'"
                )
                assert len(cursor.fetchall()) == 2
    finally:
        _migrate(latest)  # the tests after this one run on the latest schema
    assert len(message_search(q="refund").hits) == 2
