"""A run's status changes, shared by the run engine (services/runs.py) and the own-database store.

Every change is a conditional UPDATE on the current status, so two workers, a redelivered message or a race with
cancel/expiry can never both make a transition: whoever changes the row wins, the other backs off.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agents_admin.models import Run, RunStatus, RunStep, Thread


def run_transition(run_id: str, sources: list[str], target: str, **fields: Any) -> bool:
    """Move the run from one of ``sources`` to ``target``; True only if this call made the change."""
    return bool(Run.objects.filter(pk=run_id, status__in=sources).update(status=target, **fields))


def run_steps_close(run_id: str, status: str, now: datetime) -> None:
    stamp = {"cancelled": "cancelled_at", "expired": "expired_at", "failed": "failed_at"}[str(status)]
    RunStep.objects.filter(run_id=run_id, status=RunStep.Status.IN_PROGRESS).update(status=status, **{stamp: now})


def thread_run_touch(thread_id: str, status: str, now: datetime) -> None:
    """The thread's list columns follow its latest run's status."""
    fields: dict[str, Any] = {"last_run_status": status, "last_activity_at": now}
    if status == RunStatus.FAILED:
        fields["has_failed_run"] = True
    Thread.objects.filter(pk=thread_id).update(**fields)
