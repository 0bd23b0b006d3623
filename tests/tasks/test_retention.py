"""Retention through its doors: the beat task on a real worker, the policy-run task, the command line."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from agents_admin import tasks
from agents_admin.models import PurgeReport, RetentionPolicy, Thread
from agents_admin.services import retention
from dashboard.celery import app
from tests.conftest import Worker, wait_for
from tests.retention_helpers import make_aged_thread, make_policy


def test_the_sweep_is_on_the_beat_schedule_and_the_maintenance_queue() -> None:
    entry = next(e for e in app.conf.beat_schedule.values() if e["task"] == "agents_admin.tasks.retention_sweep")
    assert entry["schedule"] <= 60
    router = app.amqp.router
    for name in ("agents_admin.tasks.retention_sweep", "agents_admin.tasks.retention_policy_run"):
        assert router.route({}, name)["queue"].name == "maintenance"


@pytest.mark.worker
def test_the_beat_task_purges_stale_threads_on_a_real_worker(celery_worker: Worker) -> None:
    stale = [make_aged_thread(days=40, messages=2, runs=1) for _ in range(5)]
    held = make_aged_thread(days=40)
    fresh = make_aged_thread(days=2)
    retention.hold_place(thread=held, reason="legal", actor=None)
    policy = make_policy(days=30, schedule="interval", every_hours=24, daily_at=None)
    RetentionPolicy.objects.filter(pk=policy.pk).update(next_run_at=timezone.now() - timedelta(minutes=1))
    # What beat sends every minute, sent by name through the broker to the worker.
    app.send_task("agents_admin.tasks.retention_sweep")
    report = wait_for(lambda: PurgeReport.objects.filter(policy=policy, status="completed").first(), timeout=60)
    assert report.trigger == "schedule" and report.threads == 5 and report.messages == 10 and report.runs == 5
    assert report.skipped_held == 1
    assert set(Thread.objects.values_list("pk", flat=True)) == {held.pk, fresh.pk}
    assert not Thread.objects.filter(pk__in=[t.pk for t in stale]).exists()
    policy.refresh_from_db()
    assert policy.next_run_at is not None and policy.next_run_at > timezone.now() + timedelta(hours=23)


@pytest.mark.django_db
def test_the_policy_run_task_runs_a_report_once_with_json_arguments() -> None:
    make_aged_thread(days=40)
    policy = make_policy()
    report = retention.purge_start(policy=policy, trigger="manual", enqueue=False)
    args = json.loads(json.dumps([policy.pk, report.pk]))
    tasks.retention_policy_run(*args)
    tasks.retention_policy_run(*args)
    report.refresh_from_db()
    assert report.status == "completed" and report.threads == 1 and Thread.objects.count() == 0
    assert json.loads(json.dumps(tasks.retention_sweep())) == []


@pytest.mark.django_db
def test_apply_retention_dry_run_then_real_run_from_the_command_line() -> None:
    for _ in range(3):
        make_aged_thread(days=40, messages=4)
    held = make_aged_thread(days=40)
    retention.hold_place(thread=held, reason="audit", actor=None)
    policy = make_policy(days=30)
    out = StringIO()
    call_command("apply_retention", "--dry-run", stdout=out)
    assert "would purge 3 threads, 12 messages" in out.getvalue() and "1 on hold" in out.getvalue()
    assert Thread.objects.count() == 4
    out = StringIO()
    call_command("apply_retention", "--policy", str(policy.pk), stdout=out)
    assert "purged 3 threads, 12 messages" in out.getvalue()
    assert list(Thread.objects.values_list("pk", flat=True)) == [held.pk]
    assert list(PurgeReport.objects.order_by("id").values_list("trigger", "dry_run")) == [
        ("command", True),
        ("command", False),
    ]


@pytest.mark.django_db
def test_apply_retention_names_an_unknown_policy() -> None:
    with pytest.raises(CommandError, match="No retention policy with id 999"):
        call_command("apply_retention", "--policy", "999")
