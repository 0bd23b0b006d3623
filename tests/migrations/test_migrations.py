"""The app's migrations, on the configured database: all the way down and back up, and search works afterwards.

Migration 0002 makes the search structures the ORM doesn't know about (SQLite's FTS5 table and thread metadata side
table with their triggers, PostgreSQL's tsvector column and GIN indexes); message search and the metadata filter
read them.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from agents_admin.models import Message, Thread
from agents_admin.selectors.search import message_search
from agents_admin.selectors.threads import ThreadFilters, thread_list
from tests.factories import make_agent, make_message, make_project, make_thread


@pytest.mark.django_db(transaction=True)
def test_migrating_to_zero_and_back_leaves_a_schema_search_and_the_metadata_filter_work_on() -> None:
    call_command("migrate", "agents_admin", "zero", verbosity=0)
    assert [t for t in connection.introspection.table_names() if t.startswith("agents_admin_")] == []
    call_command("migrate", "agents_admin", verbosity=0)

    project = make_project("migrated")
    make_agent(project=project)
    acme = make_thread(project=project, metadata={"customer": "acme"})
    other = make_thread(project=project, metadata={"customer": "globex"})
    refund = make_message(acme, "Please refund my order")
    make_message(acme, "Thanks")
    make_message(other, "Refunds take a week")

    acme_only = ThreadFilters(metadata_key="customer", metadata_value="acme")
    assert [t.id for t in thread_list(acme_only).threads] == [acme.id]
    assert {hit.message.id for hit in message_search(q="refund").hits} == {
        refund.id,
        *Message.objects.filter(thread=other).values_list("id", flat=True),
    }
    assert [hit.message.id for hit in message_search(q="refund", filters=acme_only).hits] == [refund.id]

    # The index follows changes made after the fact: a thread's new metadata, a message's new text, a deletion.
    Thread.objects.filter(pk=other.pk).update(metadata={"customer": "acme"})
    assert {t.id for t in thread_list(acme_only).threads} == {acme.id, other.id}
    Message.objects.filter(pk=refund.pk).update(text="Where is my parcel?")
    Message.objects.filter(thread=other).delete()
    assert message_search(q="refund").hits == []
    assert [hit.message.id for hit in message_search(q="parcel", filters=acme_only).hits] == [refund.id]
