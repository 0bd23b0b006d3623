"""Sending work to Celery: the one way services enqueue a task, always after the surrounding transaction commits.

Tasks are sent by name through ``celery.current_app``, so services import neither the tasks module (tasks import
services) nor the project's Celery app. Queues come from the app's ``task_routes`` (dashboard/celery.py).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)

RUN_EXECUTE = "agents_admin.tasks.run_execute"
RETENTION_POLICY_RUN = "agents_admin.tasks.retention_policy_run"
EXPORT_JOB_RUN = "agents_admin.tasks.export_job_run"
REMOTE_SYNC = "agents_admin.tasks.remote_sync"
REMOTE_RUN_FOLLOW = "agents_admin.tasks.remote_run_follow"
VECTOR_STORE_FILE_INDEX = "agents_admin.tasks.vector_store_file_index"
RUNS_QUEUE = "runs"


def task_send(name: str, *args: Any) -> None:
    """Send task ``name`` with ``args`` once the current transaction commits (at once outside one); a rollback
    sends nothing, so a worker never looks for a row that does not exist."""
    transaction.on_commit(lambda: _send(name, list(args)))


def _send(name: str, args: list[Any]) -> None:
    # The row is committed by now and is the source of truth: when the broker cannot be reached (restarting,
    # or not started), the work stays queued in the database and the reconcilers send it again, so the
    # person's request still succeeds instead of failing after its change was made.
    try:
        current_app.send_task(name, args=args)
    except Exception:
        logger.warning(
            "could not send %s%s to the broker; its reconciler will send it again", name, args, exc_info=True
        )


def queue_length(queue: str) -> int | None:
    """Messages waiting in a broker queue (not those a worker has already taken); None when the broker cannot be
    asked (then callers assume it may hold anything)."""
    try:
        with current_app.connection_for_read() as conn:
            # Not passive: a Redis queue that has been drained no longer exists as a key, and is simply empty.
            return int(conn.default_channel.queue_declare(queue=queue).message_count)
    except Exception:
        return None
