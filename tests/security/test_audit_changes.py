"""Each change listed below writes exactly one audit record, in the change's transaction (a refused change none):
holds, notes, flags, retention policies, purge runs, connection tests and remote projects."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import AuditEvent, PurgeReport
from agents_admin.services import retention
from agents_admin.services.remote import remote_project_create, remote_project_update, remote_sync_start
from agents_admin.services.review import thread_flag_set, thread_note_add
from tests.factories import make_thread
from tests.retention_helpers import make_aged_thread, make_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="pw-1234567890", is_superuser=True)


def only(action: str) -> AuditEvent:
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, f"{action}: {len(events)} records"
    return events[0]


def test_a_hold_placed_and_released(alice: User) -> None:
    thread = make_thread()
    hold = retention.hold_place(thread=thread, reason="legal case 7", actor=alice)
    placed = only("hold.place")
    assert (placed.actor, placed.object_type, placed.object_id) == (alice, "thread", thread.id)
    assert placed.after == {"hold": hold.pk, "reason": "legal case 7", "expires_at": None}
    with pytest.raises(InvalidInput):
        retention.hold_place(thread=thread, reason=" ", actor=alice)
    retention.hold_release(hold=hold, actor=alice)
    assert only("hold.release").after == {"hold": hold.pk, "released": True}
    with pytest.raises(Conflict):
        retention.hold_release(hold=hold, actor=alice)
    assert AuditEvent.objects.filter(action__startswith="hold.").count() == 2


def test_a_note_and_flags(alice: User) -> None:
    thread = make_thread()
    note = thread_note_add(thread=thread, author=alice, body=" call back on Monday ")
    assert only("note.create").after == {"note": note.pk, "body": "call back on Monday"}
    with pytest.raises(InvalidInput):
        thread_note_add(thread=thread, author=alice, body="")
    thread_flag_set(thread=thread, name="escalated", on=True, actor=alice)
    thread_flag_set(thread=thread, name="escalated", on=True, actor=alice)  # no change: no record
    assert only("flag.set").after == {"flag": "escalated", "on": True}
    thread_flag_set(thread=thread, name="escalated", on=False, actor=alice)
    thread_flag_set(thread=thread, name="escalated", on=False, actor=alice)
    assert only("flag.clear").before == {"flag": "escalated", "on": True}
    with pytest.raises(InvalidInput):
        thread_flag_set(thread=thread, name="Not A Flag!", on=True, actor=alice)
    assert AuditEvent.objects.filter(action__startswith="flag.").count() == 2


def test_a_retention_policy_created_updated_enabled_and_deleted(alice: User) -> None:
    policy = make_policy(enabled=False, actor=alice, name="Old chats", days=90)
    created = only("retention_policy.create")
    assert created.actor == alice and created.object_id == str(policy.pk)
    assert created.after["name"] == "Old chats" and created.after["days"] == 90 and created.after["agents"] == []

    retention.policy_save(policy=policy, actor=alice, name="Old chats", days=60, daily_at=time(3, 0))
    updated = only("retention_policy.update")
    assert updated.before == {"days": 90} and updated.after == {"days": 60}
    retention.policy_save(policy=policy, actor=alice, name="Old chats", days=60, daily_at=time(3, 0))
    assert AuditEvent.objects.filter(action="retention_policy.update").count() == 1  # unchanged: nothing
    with pytest.raises(InvalidInput):
        retention.policy_save(policy=policy, actor=alice, name="", days=60, daily_at=time(3, 0))
    assert AuditEvent.objects.filter(action="retention_policy.update").count() == 1

    retention.policy_delete(policy=policy, actor=alice)
    deleted = only("retention_policy.delete")
    assert deleted.before["name"] == "Old chats" and deleted.after is None


def test_a_purge_started_stopped_resumed_and_finished(alice: User) -> None:
    make_aged_thread(days=100)
    policy = make_policy(actor=alice)
    report = retention.purge_start(policy=policy, trigger=PurgeReport.Trigger.MANUAL, actor=alice, enqueue=False)
    started = only("purge.start")
    assert (started.actor, started.object_id) == (alice, str(report.pk))
    assert started.after["policy"] == policy.pk and started.after["dry_run"] is False

    retention.purge_stop(report=report, actor=alice)
    assert only("purge.stop").after == {"stopped": True, "stop_requested": False}
    retention.purge_resume(report=report, actor=alice, enqueue=False)
    assert only("purge.resume").before == {"status": "stopped"}
    retention.purge_execute(report_id=report.pk)
    finished = only("purge.finish")
    assert (
        finished.actor_label == "retention"
        and finished.after["threads"] == 1
        and finished.after["status"] == "completed"
    )


def test_the_schedule_and_the_command_are_named_as_actors() -> None:
    policy = make_policy()
    retention.purge_start(policy=policy, trigger=PurgeReport.Trigger.SCHEDULE, enqueue=False)
    retention.purge_start(policy=policy, trigger=PurgeReport.Trigger.COMMAND, dry_run=True, enqueue=False)
    labels = list(AuditEvent.objects.filter(action="purge.start").order_by("id").values_list("actor_label", flat=True))
    assert labels == ["beat", "cli"]


def test_a_remote_project_created_updated_and_synced(alice: User) -> None:
    remote = remote_project_create(
        name="east", endpoint="https://east.example.com/api/projects/p", auth_kind="api_key", secret="k-1", actor=alice
    )
    created = only("remote_project.create")
    assert created.after["endpoint"] == "https://east.example.com/api/projects/p" and created.after["secret"] == "(set)"
    assert "k-1" not in str(created.after)
    remote_project_update(remote=remote, secret="k-2", sync_interval_minutes=15, actor=alice)
    updated = only("remote_project.update")
    assert updated.before == {"sync_interval_minutes": 60, "secret": "(set)"}
    assert updated.after == {"sync_interval_minutes": 15, "secret": "(replaced)"}
    remote_project_update(remote=remote, sync_interval_minutes=15, actor=alice)
    assert AuditEvent.objects.filter(action="remote_project.update").count() == 1
    record = remote_sync_start(remote=remote, actor=alice)
    assert only("remote_project.sync").after == {"sync": record.pk, "mode": "full"}
    with pytest.raises(Conflict):
        remote_sync_start(remote=remote, actor=alice)
    assert AuditEvent.objects.filter(action="remote_project.sync").count() == 1


def test_an_expired_hold_needs_a_future_expiry_and_records_nothing(alice: User) -> None:
    thread = make_thread()
    with pytest.raises(InvalidInput):
        retention.hold_place(thread=thread, reason="x", actor=alice, expires_at=timezone.now() - timedelta(days=1))
    assert not AuditEvent.objects.filter(action="hold.place").exists()
