"""Celery tasks: thin doors into the services. Arguments are ids; tasks are safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from agents_admin.selectors import usage as usage_selectors
from agents_admin.services import exports, maintenance, remote, retention, review_queues, runs, usage, vector_stores
from agents_admin.services.remote_sync import remote_sync_execute


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


@shared_task(name="agents_admin.tasks.retention_sweep")
def retention_sweep() -> list[int]:
    """Beat, every minute: start the due policies (each claimed once by a conditional update)."""
    return retention.retention_sweep()


@shared_task(
    name="agents_admin.tasks.retention_policy_run",
    # A locked SQLite file or a dropped connection before the claim is worth a retry; after the claim the
    # service records failures on the report, which can be resumed from its cursor.
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def retention_policy_run(policy_id: int, report_id: int) -> None:
    """Run one queued purge report; a second delivery finds it claimed and does nothing."""
    retention.purge_execute(report_id=report_id)


@shared_task(name="agents_admin.tasks.export_job_run")
def export_job_run(job_id: int) -> bool:
    return exports.export_job_run(job_id=job_id)


@shared_task(name="agents_admin.tasks.vector_store_file_index")
def vector_store_file_index(entry_id: int) -> None:
    """Index one file of a vector store (sent when the file is added)."""
    vector_stores.vector_store_file_index(entry_id=entry_id)


@shared_task(name="agents_admin.tasks.vector_stores_expire")
def vector_stores_expire() -> int:
    """Beat, every 10 minutes: expire vector stores past their expires_at."""
    return vector_stores.vector_stores_expire()


@shared_task(name="agents_admin.tasks.exports_expire")
def exports_expire() -> int:
    """Beat, hourly: delete background export files past EXPORT_RETENTION_HOURS; their jobs say they expired."""
    return exports.exports_expire()


@shared_task(name="agents_admin.tasks.exports_reconcile")
def exports_reconcile() -> dict[str, int]:
    """Beat, every minute: fail exports whose worker died mid-write; send a lost queued one again, once."""
    return exports.exports_reconcile()


@shared_task(name="agents_admin.tasks.database_upkeep")
def database_upkeep() -> dict[str, object]:
    """Beat, hourly: SQLite's statistics and full-text merges; PostgreSQL's vacuum only if autovacuum is off."""
    return maintenance.database_upkeep()


@shared_task(
    name="agents_admin.tasks.remote_sync",
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_jitter=True,
    max_retries=3,
    # A full sync of a big project takes long: the soft limit ends it as "partial" (the next one continues),
    # the hard limit stays below the Redis visibility_timeout (3600 s) so the message is not redelivered.
    soft_time_limit=3000,
    time_limit=3300,
)
def remote_sync(sync_id: int) -> None:
    """Run one queued sync of a remote Foundry project; it claims its record queued -> running, so a second
    delivery does nothing."""
    remote_sync_execute(sync_id=sync_id)


@shared_task(name="agents_admin.tasks.remote_run_follow")
def remote_run_follow(run_id: str) -> None:
    """Follow a remote run to its end; a lease on the run row keeps a second follower out."""
    remote.remote_run_follow(run_id=run_id)


@shared_task(name="agents_admin.tasks.remote_syncs_due")
def remote_syncs_due() -> int:
    """Beat, every minute: start the remote syncs that are due and re-follow orphaned remote runs."""
    return remote.remote_syncs_due()


@shared_task(name="agents_admin.tasks.usage_backfill")
def usage_backfill() -> int:
    """Beat, every 5 minutes: count finished runs that no transition counted (mirrored runs, older runs)."""
    return usage.usage_backfill()


@shared_task(name="agents_admin.tasks.usage_choices_refresh")
def usage_choices_refresh() -> int:
    """Beat, every minute: the usage page's filter choices (models and principals of 90 days of rollups), read
    here so that no page request waits for the scan."""
    return sum(len(values) for values in usage_selectors.dimension_choices_refresh().values())


@shared_task(name="agents_admin.tasks.review_intake")
def review_intake() -> dict[int, int]:
    """Beat, every minute: each enabled review queue takes its next bounded windows of threads."""
    return review_queues.review_intake_due()


@shared_task(name="agents_admin.tasks.worker_probe", ignore_result=True)
def worker_probe(key: str) -> None:
    """The liveness probe's task (manage.py worker_probe), sent to one worker's own queue."""
    maintenance.worker_probe_answer(key=key)
