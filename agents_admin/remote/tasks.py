"""Celery tasks for remote Foundry projects (registered by autodiscovery in dashboard/celery.py).

Thin doors into services/remote*.py: arguments are ids, and each task is safe to run twice (a sync claims
its record queued -> running; a run follower holds a lease on the run row).
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from agents_admin.services import remote as remote_service
from agents_admin.services import remote_sync as sync_service


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
    sync_service.remote_sync_execute(sync_id=sync_id)


@shared_task(name="agents_admin.tasks.remote_run_follow")
def remote_run_follow(run_id: str) -> None:
    remote_service.remote_run_follow(run_id=run_id)


@shared_task(name="agents_admin.tasks.remote_syncs_due")
def remote_syncs_due() -> int:
    return remote_service.remote_syncs_due()
