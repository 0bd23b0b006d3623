"""The Celery app. Settings come from Django's, prefixed CELERY_."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Queues in one place: interactive runs never wait behind background maintenance.
QUEUE_RUNS = "runs"
QUEUE_MAINTENANCE = "maintenance"

app.conf.task_routes = {
    "agents_admin.tasks.run_execute": {"queue": QUEUE_RUNS},
    "agents_admin.tasks.remote_run_follow": {"queue": QUEUE_RUNS},
    "agents_admin.tasks.*": {"queue": QUEUE_MAINTENANCE},
}
app.conf.beat_schedule = {
    "expire-runs": {"task": "agents_admin.tasks.runs_expire", "schedule": 15.0},
    # Cheap (two indexed reads when nothing is wrong), so often: a run whose worker died is back within seconds.
    "reconcile-runs": {"task": "agents_admin.tasks.runs_reconcile", "schedule": 5.0},
    # Starts due retention policies; the purges themselves run as separate tasks on the maintenance queue.
    "retention-sweep": {"task": "agents_admin.tasks.retention_sweep", "schedule": 60.0},
    "remote-syncs-due": {"task": "agents_admin.tasks.remote_syncs_due", "schedule": 60.0},
    "database-upkeep": {"task": "agents_admin.tasks.database_upkeep", "schedule": 3600.0},
    # Background export files live EXPORT_RETENTION_HOURS; an hourly pass is precise enough for that.
    "expire-exports": {"task": "agents_admin.tasks.exports_expire", "schedule": 3600.0},
    # Export jobs whose worker died stay "running" otherwise; EXPORT_STALE_SECONDS is minutes, so check each minute.
    "reconcile-exports": {"task": "agents_admin.tasks.exports_reconcile", "schedule": 60.0},
    # Runs the engine counts as they finish; this catches mirrored runs and runs finished before the rollups.
    "usage-backfill": {"task": "agents_admin.tasks.usage_backfill", "schedule": 300.0},
    # Review queues take new threads in bounded windows (services.review_queues.queue_intake).
    "review-intake": {"task": "agents_admin.tasks.review_intake", "schedule": 60.0},
}
