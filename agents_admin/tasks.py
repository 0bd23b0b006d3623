"""Celery tasks: thin doors into the services. Arguments are ids; tasks are safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from agents_admin.services import runs


@shared_task(
    name="agents_admin.tasks.run_execute",
    # Database hiccups (a locked SQLite file, a dropped connection) before the claim are worth a retry;
    # everything after the claim is handled by the service, which ends the run with a reason.
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def run_execute(run_id: str) -> None:
    runs.run_execute(run_id=run_id)


@shared_task(name="agents_admin.tasks.runs_expire")
def runs_expire() -> int:
    return runs.runs_expire()


@shared_task(name="agents_admin.tasks.runs_reconcile")
def runs_reconcile() -> int:
    return runs.runs_reconcile()


@shared_task(name="agents_admin.tasks.export_job_run")
def export_job_run(job_id: int) -> bool:
    from agents_admin.services import exports  # noqa: PLC0415 - keeps the run tasks' imports unchanged

    return exports.export_job_run(job_id=job_id)
