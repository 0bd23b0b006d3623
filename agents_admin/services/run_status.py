"""A run's status changes, shared by the run engine (services/runs.py) and the own-database store.

Every change is a conditional UPDATE on the current status, so two workers, a redelivered message or a race with
cancel/expiry can never both make a transition: whoever changes the row wins, the other backs off.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from agents_admin.models import TERMINAL_RUN_STATUSES, Message, Run, RunStatus, RunStep, Thread
from agents_admin.services.run_events import run_changed
from agents_admin.services.usage import usage_record_run


def run_transition(
    run_id: str, sources: list[str], target: str, *, held: Run | None = None, settle_later: bool = False, **fields: Any
) -> bool:
    """Move the run from one of ``sources`` to ``target``; True only if this call made the change.

    A final status is the one place a run is added to the usage rollups: the same UPDATE marks it counted and
    the same transaction adds it, so only the call that made the change counts it. ``held``: the run as the
    caller holds it (thread loaded), so the rollup is written from it without reading the run back.
    ``settle_later`` (the worker's answered runs): the run is left uncounted, and the next settle adds it with a
    batch of others (services/usage.runs_settle), so the run's own transaction writes no rollup.
    """
    if target not in TERMINAL_RUN_STATUSES or settle_later:
        changed = Run.objects.filter(pk=run_id, status__in=sources).update(status=target, **fields)
    else:
        with transaction.atomic(savepoint=False):
            changed = Run.objects.filter(pk=run_id, status__in=sources).update(
                status=target, usage_counted=True, **fields
            )
            if changed:
                usage_record_run(run_id, held=held, changes={**fields, "status": target})
    if changed:
        # Open streams of the run look again once this commits (steps and messages written in the same
        # transaction come with it).
        run_changed(run_id)
    return bool(changed)


def run_steps_close(run_id: str, status: str, now: datetime, *, last_error: dict[str, str] | None = None) -> None:
    """A run that ended without completing: its open steps end with it (a failed step carries the run's error,
    as the service's do), and so does any assistant message still being written (a partial answer stays
    readable, marked incomplete with the reason)."""
    stamp = {"cancelled": "cancelled_at", "expired": "expired_at", "failed": "failed_at"}[str(status)]
    fields: dict[str, Any] = {"status": status, stamp: now}
    if last_error is not None:
        fields["last_error"] = last_error
    RunStep.objects.filter(run_id=run_id, status=RunStep.Status.IN_PROGRESS).update(**fields)
    Message.objects.filter(run_id=run_id, status=Message.Status.IN_PROGRESS).update(
        status=Message.Status.INCOMPLETE, incomplete_details={"reason": f"run_{status}"}
    )


def thread_run_touch(thread_id: str, status: str, now: datetime) -> None:
    """The thread's list columns follow its latest run's status."""
    fields: dict[str, Any] = {"last_run_status": status, "last_activity_at": now}
    if status == RunStatus.FAILED:
        fields["has_failed_run"] = True
    Thread.objects.filter(pk=thread_id).update(**fields)
