"""Usage rollups: they equal a recount from the runs, count each run once, and outlive retention."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, timedelta
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from agents_admin.models import AuditEvent, Run, RunStep, Thread, UsageErrorCount, UsageRollup
from agents_admin.models.usage import LATENCY_FIELDS
from agents_admin.services.retention import purge_execute, purge_start
from agents_admin.services.runs import run_cancel, run_execute, run_submit_tool_outputs, runs_expire, runs_reconcile
from agents_admin.services.threads import thread_delete
from agents_admin.services.usage import (
    latency_bucket,
    usage_backfill,
    usage_count_run,
    usage_rebuild,
)
from tests.factories import WEATHER_TOOL, make_agent, make_project, make_run, make_thread
from tests.retention_helpers import make_policy

pytestmark = pytest.mark.django_db


def recount(runs: list[Run]) -> dict[str, Any]:
    """What the rollups should say, counted straight from the runs and their steps."""
    totals: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for run in runs:
        totals[f"runs_{run.status}"] += 1
        totals["prompt_tokens"] += run.prompt_tokens or 0
        totals["completion_tokens"] += run.completion_tokens or 0
        totals["tool_calls"] += sum(len(s.tool_calls) for s in run.steps.filter(type="tool_calls"))
        if run.status in ("completed", "incomplete"):
            ms = int((run.completed_at - run.created_at).total_seconds() * 1000)
            totals["latency_count"] += 1
            totals["latency_ms_sum"] += ms
            totals[latency_bucket(ms)] += 1
        if run.status == "failed":
            errors[run.last_error["code"]] += 1
    return {"totals": +totals, "errors": +errors}


def rollups(period: str) -> dict[str, Any]:
    fields = [
        *(f"runs_{s}" for s in ("completed", "failed", "cancelled", "expired", "incomplete")),
        "prompt_tokens",
        "completion_tokens",
        "tool_calls",
        "latency_count",
        "latency_ms_sum",
        *LATENCY_FIELDS,
    ]
    totals: Counter[str] = Counter()
    for row in UsageRollup.objects.filter(period=period).values(*fields):
        totals.update({name: value for name, value in row.items() if value})
    errors: Counter[str] = Counter()
    for code, count in UsageErrorCount.objects.filter(period=period).values_list("code", "count"):
        errors[code] += count
    return {"totals": +totals, "errors": +errors}


def finished(text: str, **fields: Any) -> Run:
    run = make_run(text=text, **fields)
    run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


@pytest.fixture
def mix() -> list[Run]:
    """Completed, failed, cancelled, incomplete, expired runs and one that went through a tool call."""
    agent = make_agent(tools=[WEATHER_TOOL])
    runs = [
        finished("Hello", agent=agent),
        finished("Another question", agent=agent),
        finished("/fail please", agent=agent),
        finished("/long story", agent=agent, max_completion_tokens=5),
    ]
    tool_run = finished("/tool", agent=agent)
    assert tool_run.status == "requires_action"
    run_submit_tool_outputs(run=tool_run, tool_outputs=[{"tool_call_id": tool_run.pending_tool_calls[0]["id"],
                                                          "output": "sunny"}])  # fmt: skip
    run_execute(run_id=tool_run.id)
    cancelled = run_cancel(run=make_run(agent=agent))
    expiring = make_run(agent=agent)
    runs_expire(now=timezone.now() + timedelta(seconds=601))
    runs += [tool_run, cancelled, expiring]
    for run in runs:
        run.refresh_from_db()
    assert Counter(r.status for r in runs) == {"completed": 3, "failed": 1, "incomplete": 1, "cancelled": 1,
                                               "expired": 1}  # fmt: skip
    return runs


def test_rollups_equal_a_recount_of_the_runs_in_every_period(mix: list[Run]) -> None:
    expected = recount(mix)
    assert expected["totals"]["tool_calls"] == 1 and expected["errors"] == {"offline_model_failure": 1}
    assert rollups("hour") == expected
    assert rollups("day") == expected
    assert rollups("dsum") == expected
    assert all(run.usage_counted for run in Run.objects.all())


def test_a_redelivered_task_or_a_late_reconciler_counts_a_run_once(mix: list[Run]) -> None:
    before = rollups("hour")
    for run in mix:
        run_execute(run_id=run.id)  # the broker delivers the task again
        assert usage_count_run(run.id) is False
    # A reconciler that thinks the worker died cannot fail a finished run either.
    Run.objects.filter(pk=mix[0].pk).update(heartbeat_at=None, attempts=3)
    runs_reconcile(now=timezone.now() + timedelta(minutes=5))
    assert usage_backfill() == 0
    assert rollups("hour") == before == recount(mix)


def test_rollups_stay_when_retention_purges_the_threads(mix: list[Run]) -> None:
    expected = recount(mix)
    # A finished run the engine never counted (older than the rollups) is counted on its way out.
    old = make_run(text="from before")
    Run.objects.filter(pk=old.pk).update(status="completed", completed_at=timezone.now(), prompt_tokens=7)
    expected["totals"]["runs_completed"] += 1
    expected["totals"]["prompt_tokens"] += 7
    expected["totals"]["latency_count"] += 1
    old.refresh_from_db()
    ms = int((old.completed_at - old.created_at).total_seconds() * 1000)
    expected["totals"]["latency_ms_sum"] += ms
    expected["totals"][latency_bucket(ms)] += 1

    thread_delete(thread=mix[0].thread)
    policy = make_policy(days=1)
    Thread.objects.update(last_activity_at=timezone.now() - timedelta(days=3))
    report = purge_start(policy=policy, trigger="command", dry_run=False, enqueue=False)
    done = purge_execute(report_id=report.pk)
    assert done is not None and done.status == "completed"
    assert Run.objects.count() == 0 and RunStep.objects.count() == 0
    expected["totals"] = +expected["totals"]
    assert rollups("hour") == expected
    assert rollups("day") == expected
    assert rollups("dsum") == expected


def test_a_run_finished_elsewhere_is_counted_by_the_backfill_once() -> None:
    run = make_run()
    # A mirrored run's final status arrives from the remote, not through the engine's transition.
    Run.objects.filter(pk=run.pk).update(status="failed", failed_at=timezone.now(), last_error={"code": "rate_limit"})
    assert usage_backfill() == 1
    assert usage_backfill() == 0
    assert rollups("hour") == {"totals": Counter(runs_failed=1), "errors": Counter(rate_limit=1)}
    assert rollups("dsum") == rollups("day") == rollups("hour")


def test_a_recount_rebuilds_the_same_rollups_and_is_audited(mix: list[Run]) -> None:
    before = {period: rollups(period) for period in ("hour", "day", "dsum")}
    UsageRollup.objects.update(prompt_tokens=0)  # damage, as a bug or a manual edit would
    counted = usage_rebuild(since=timezone.now() - timedelta(days=1), actor_label="cli")
    assert counted == len(mix)
    assert {period: rollups(period) for period in ("hour", "day", "dsum")} == before
    assert AuditEvent.objects.filter(action="usage.recount").count() == 1


def test_usage_is_broken_down_by_who_started_the_run() -> None:
    agent = make_agent()
    thread = make_thread(project=agent.project, messages=["Hi"])
    run = make_run(agent=agent, thread=thread, actor_label="api-key:ak_test")
    run_execute(run_id=run.id)
    other = make_project("sales")
    assert other.pk != agent.project_id
    assert list(UsageRollup.objects.filter(period="hour").values_list("principal", "project_ref", "agent_ref")) == [
        ("api-key:ak_test", str(agent.project_id), agent.id)
    ]
    # Buckets are stored as the ORM stores them, so an equality lookup meets the row the engine wrote.
    run.refresh_from_db()
    day = run.created_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert UsageRollup.objects.filter(period="day", bucket=day, agent_ref=agent.id).count() == 1
    # The daily summary sums over principals and connections: one row per day, project, agent and model.
    assert list(UsageRollup.objects.filter(period="dsum").values_list("principal", "project_ref", "agent_ref")) == [
        ("", str(agent.project_id), agent.id)
    ]


def test_the_migration_builds_the_daily_summary_the_engine_keeps(mix: list[Run]) -> None:
    before = sorted(UsageRollup.objects.filter(period="dsum").values_list("bucket", "agent_ref", "runs_completed"))
    errors = sorted(UsageErrorCount.objects.filter(period="dsum").values_list("bucket", "code", "count"))
    UsageRollup.objects.filter(period="dsum").update(runs_completed=0)  # damage, to be rebuilt
    import_module("agents_admin.migrations.0020_usage_day_summary").build(django_apps, None)
    assert (
        sorted(UsageRollup.objects.filter(period="dsum").values_list("bucket", "agent_ref", "runs_completed")) == before
    )
    assert sorted(UsageErrorCount.objects.filter(period="dsum").values_list("bucket", "code", "count")) == errors
    assert rollups("dsum") == recount(mix)
