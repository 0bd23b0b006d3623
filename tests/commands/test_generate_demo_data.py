"""The dataset generator: consistent counters and sequences, big threads, searchable text."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min, Sum

from agents_admin.models import TERMINAL_RUN_STATUSES, Agent, Message, Run, RunStatus, Thread, UsageRollup
from agents_admin.selectors.search import message_search

pytestmark = pytest.mark.django_db


def test_it_generates_threads_with_consistent_counts_sequences_and_activity() -> None:
    call_command("generate_demo_data", threads=40, messages=900, big_threads=2, big_size=300, stdout=None)
    assert Thread.objects.count() == 40
    assert Message.objects.count() == 900
    assert list(Thread.objects.order_by("-message_count").values_list("message_count", flat=True)[:2]) == [300, 300]
    per_thread = Message.objects.values("thread_id").annotate(
        n=Count("id"), first=Min("seq"), last=Max("seq"), newest=Max("created_at")
    )
    threads = {t.id: t for t in Thread.objects.all()}
    for row in per_thread:
        thread = threads[row["thread_id"]]
        assert row["n"] == thread.message_count == row["last"]
        assert row["first"] == 1
        assert row["newest"] == thread.last_activity_at
    for thread in threads.values():
        if thread.last_run_status:
            run = Run.objects.get(thread=thread)
            assert run.status == thread.last_run_status and run.agent_id == thread.last_agent_id
            assert run.messages.filter(role="assistant").count() == (1 if thread.message_count >= 2 else 0)
    assert set(Run.objects.values_list("status", flat=True)) <= set(TERMINAL_RUN_STATUSES)


def test_generated_runs_spread_over_the_days_and_their_rollups_match_them() -> None:
    call_command("generate_demo_data", threads=30, messages=60, big_threads=0, runs=600, days=30, stdout=None)
    runs = Run.objects.all()
    assert 500 <= runs.count() <= 700 and runs.filter(usage_counted=False).count() == 0
    days = {moment.date() for moment in runs.values_list("created_at", flat=True)}
    assert len(days) >= 10
    assert {RunStatus.COMPLETED, RunStatus.FAILED} <= set(runs.values_list("status", flat=True))
    by_status = dict(runs.values_list("status").annotate(n=Count("id")))
    for period in ("hour", "day"):
        rolled = UsageRollup.objects.filter(period=period).aggregate(
            completed=Sum("runs_completed"), failed=Sum("runs_failed"), prompt=Sum("prompt_tokens")
        )
        assert rolled["completed"] == by_status.get("completed", 0)
        assert rolled["failed"] == by_status.get("failed", 0)
        assert rolled["prompt"] == runs.aggregate(n=Sum("prompt_tokens"))["n"]


def test_a_second_load_adds_runs_to_the_same_agents() -> None:
    # Growing a dataset (100k runs, then 1M) keeps the usage page's breakdown the same size.
    call_command("generate_demo_data", threads=10, messages=20, big_threads=0, runs=30, stdout=None)
    agents = set(Agent.objects.values_list("id", flat=True))
    call_command("generate_demo_data", threads=10, messages=0, big_threads=0, runs=100, stdout=None)
    assert set(Agent.objects.values_list("id", flat=True)) == agents and len(agents) == 8
    assert set(Run.objects.values_list("agent_id", flat=True)) <= agents and Run.objects.count() > 100


def test_generated_messages_are_in_the_full_text_index() -> None:
    call_command("generate_demo_data", threads=10, messages=400, big_threads=0, stdout=None)
    hits = message_search(q="help").hits
    assert hits
    hit = hits[0]
    hit.message.refresh_from_db()
    assert "help" in hit.message.text.lower()


def test_it_refuses_impossible_sizes() -> None:
    with pytest.raises(CommandError):
        call_command("generate_demo_data", threads=2, messages=100, big_threads=3, big_size=10, stdout=None)
    with pytest.raises(CommandError):
        call_command("generate_demo_data", threads=2, messages=100, big_threads=1, big_size=1000, stdout=None)
    assert not Thread.objects.exists()


@pytest.fixture
def django_admin_mounted(settings: object) -> object:
    """The bench measures the Django admin's changelist as its reference point, so make bench mounts the admin."""
    import importlib

    from django.urls import clear_url_caches

    import dashboard.urls

    settings.DJANGO_ADMIN_ENABLED = True  # type: ignore[attr-defined]
    importlib.reload(dashboard.urls)
    clear_url_caches()
    yield
    settings.DJANGO_ADMIN_ENABLED = False  # type: ignore[attr-defined]
    importlib.reload(dashboard.urls)
    clear_url_caches()


def test_the_benchmark_generates_missing_data_and_writes_its_figures(
    tmp_path: object, django_admin_mounted: object
) -> None:
    import json
    from pathlib import Path

    call_command(
        "bench", threads=20, messages=300, big_threads=1, big_size=100, repeat=2, warmup=0, output=str(tmp_path)
    )
    [report] = list(Path(str(tmp_path)).glob("bench-*.json"))
    data = json.loads(report.read_text())
    assert data["meta"]["threads"] == 20 and data["meta"]["messages"] == 300
    names = {r["name"] for r in data["results"]}
    assert {"search 'refund'", "admin changelist (threads)", "jump to a message id"} <= names
    assert {"thread list /threads/?flag=escalated", "search 'refund' + metadata filter"} <= names
    # Measured as a running instance keeps the database: after the hourly upkeep.
    assert set(data["meta"]["upkeep"]) == {"tombstones_pruned", "statistics", "vacuum", "search_merge_steps"}
    table = report.with_suffix(".md").read_text()
    assert "| search 'refund' |" in table and "| admin changelist (threads) |" in table and "1.0x" in table
    budgets = {r["name"]: r["budget_p95_ms"] for r in data["results"]}
    assert budgets["search 'refund'"] == 300 and budgets["thread list /threads/"] == 100
    assert budgets["admin changelist (threads)"] is None
    assert all(r["n"] == 2 and r["p95_ms"] >= r["p50_ms"] > 0 for r in data["results"])
