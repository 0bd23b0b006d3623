"""The Celery app. Settings come from Django's, prefixed CELERY_."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import beat_init, task_postrun, worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
logger = logging.getLogger(__name__)

# Queues in one place: interactive runs never wait behind background maintenance.
QUEUE_RUNS = "runs"
QUEUE_MAINTENANCE = "maintenance"

app.conf.task_routes = {
    "agents_admin.tasks.run_execute": {"queue": QUEUE_RUNS},
    "agents_admin.tasks.remote_run_follow": {"queue": QUEUE_RUNS},
    "agents_admin.tasks.*": {"queue": QUEUE_MAINTENANCE},
}
app.conf.beat_schedule = {
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
    # The usage page's filter choices, read off the request path (selectors.usage.dimension_choices).
    "usage-choices": {"task": "agents_admin.tasks.usage_choices_refresh", "schedule": 60.0},
    # Review queues take new threads in bounded windows (services.review_queues.queue_intake).
    "review-intake": {"task": "agents_admin.tasks.review_intake", "schedule": 60.0},
    # Vector stores expire in days; a ten-minute pass is precise enough.
    "expire-vector-stores": {"task": "agents_admin.tasks.vector_stores_expire", "schedule": 600.0},
}


# Run expiry, reconciliation and settling (finished runs' usage and spans, services/usage.runs_settle) happen in
# beat's own process, not through the broker: a run past its expiry is
# expired and a run whose worker died is queued again even while no worker is up (or the workers are stuck).
RUN_SWEEP_SECONDS = 5.0


@beat_init.connect
def _run_sweeps_start(sender: object, **kwargs: object) -> None:
    threading.Thread(target=_run_sweeps, daemon=True, name="run-sweeps").start()


def _run_sweeps() -> None:
    from django.db import close_old_connections

    from agents_admin.services.runs import runs_expire, runs_reconcile
    from agents_admin.services.usage import runs_settle

    while True:
        time.sleep(RUN_SWEEP_SECONDS)
        try:
            runs_expire()
            runs_reconcile()
            runs_settle()
        except Exception:
            logger.exception("run sweep failed; trying again in %s s", RUN_SWEEP_SECONDS)
        finally:
            close_old_connections()


# Celery's Django fixup closes every database connection after each task (opening one cost a third of a run's CPU
# on SQLite). A worker keeps its connection instead, as a web process keeps it between requests: the fixup only
# recycles it every DB_REUSE_TASKS tasks, and after each task Django's own close_old_connections drops one that
# failed or outlived DB_CONN_MAX_AGE, and has the next task's first query check it first (CONN_HEALTH_CHECKS).
DB_REUSE_TASKS = 1000
app.conf.CELERY_DB_REUSE_MAX = DB_REUSE_TASKS


@worker_init.connect
def _keep_connections(**kwargs: object) -> None:
    """SQLite's web processes open a connection per request (settings); a worker's keeps it for DB_CONN_MAX_AGE,
    as on PostgreSQL. Set before the pool forks, so its processes inherit it."""
    from django.conf import settings
    from django.db import connections

    connections["default"].settings_dict["CONN_MAX_AGE"] = settings.DB_CONN_MAX_AGE


@task_postrun.connect
def _tidy_connections(**kwargs: object) -> None:
    from django.db import close_old_connections

    close_old_connections()


@worker_ready.connect
def _reconcile_on_start(sender: Any, **kwargs: object) -> None:
    """A worker that starts (often: restarted after a crash) asks for a reconcile at once, so the runs its
    predecessor held come back without waiting for beat."""
    sender.app.send_task("agents_admin.tasks.runs_reconcile")
