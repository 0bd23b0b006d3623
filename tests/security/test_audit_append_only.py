"""The audit table is append-only in the database itself, not only in the model class."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction

from agents_admin.models import AuditEvent
from agents_admin.services.audit import audit_record
from tests.factories import make_project


def _refused(statement: str, params: list[object]) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_update_and_delete_are_refused_by_the_database(db: None) -> None:
    event = audit_record(action="thread.view", actor_label="someone", object_type="thread", object_id="thread_1")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_label="someone else")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    _refused("UPDATE agents_admin_auditevent SET action = 'x' WHERE id = %s", [event.pk])
    _refused("DELETE FROM agents_admin_auditevent WHERE id = %s", [event.pk])
    _refused("DELETE FROM agents_admin_auditevent", [])
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_label, stored.action) == ("someone", "thread.view")


def test_deleting_the_actor_or_the_project_leaves_their_records_as_they_were(db: None) -> None:
    user = User.objects.create_user("leaver")
    project = make_project("gone")
    event = audit_record(action="agent.create", actor=user, project=project, object_type="agent", object_id="a")
    ids = (user.pk, project.pk)
    user.delete()
    project.delete()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.project_id, stored.actor_label) == (*ids, "leaver")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", [1, 2])
def test_a_flush_between_transactional_tests_still_empties_the_table_and_keeps_the_triggers(round_: int) -> None:
    # Round 2 starts after the flush that ended round 1: the table is empty and the triggers still refuse.
    assert not AuditEvent.objects.exists()
    event = audit_record(action="thread.view", actor_label=f"round {round_}")
    _refused("DELETE FROM agents_admin_auditevent WHERE id = %s", [event.pk])
