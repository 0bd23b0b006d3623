"""Sending work to Celery, always after the surrounding transaction commits.

Tasks are sent by name so that services never import the tasks module (tasks import services).
"""

from __future__ import annotations

from django.db import transaction

from dashboard.celery import app

RUN_EXECUTE_TASK = "agents_admin.tasks.run_execute"


def run_dispatch(run_id: str) -> None:
    """Ask a worker to execute the run once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: app.send_task(RUN_EXECUTE_TASK, args=[run_id]))


RETENTION_RUN_TASK = "agents_admin.tasks.retention_policy_run"


def retention_dispatch(policy_id: int, report_id: int) -> None:
    """Ask a worker to run a queued purge report once the current transaction commits."""
    transaction.on_commit(lambda: app.send_task(RETENTION_RUN_TASK, args=[policy_id, report_id]))
