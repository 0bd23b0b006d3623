"""Benchmark (not a test) for run traces: runs per second with tracing on and off, and trace storage per run.

Runs go through the services as in production (``run_create``, ``run_execute``, ``run_submit_tool_outputs``)
with the built-in offline model, executed in this process one after another; the broker is left out (the task a
run sends is dropped, the run is executed here), so the figure is the run engine's own cost. Half the runs
answer at once, half ask for a tool call and finish after its output. Traced and untraced rounds alternate, so
other load on the machine slows both alike. Everything lives in a project named ``bench-traces``, emptied before
and after.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import current_app
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.test.utils import override_settings

from agents_admin.models import Project, RunSpan, Thread
from agents_admin.services.agents import agent_create
from agents_admin.services.runs import run_create, run_execute, run_submit_tool_outputs
from agents_admin.services.stores import RunOptions
from agents_admin.services.threads import thread_create

BENCH_PROJECT = "bench-traces"
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "description": "Look a thing up", "parameters": {"type": "object"}},
}


@contextmanager
def _no_broker() -> Iterator[None]:
    """Runs are executed by this process: the task each sends is dropped instead of queued."""
    original = current_app.send_task
    current_app.send_task = lambda *args, **kwargs: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        current_app.send_task = original  # type: ignore[method-assign]


class _Counter:
    """Counts the SQL statements a mode sends (a connection execute wrapper)."""

    def __init__(self, counts: dict[str, int], mode: str) -> None:
        self.counts, self.mode = counts, mode

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.counts[self.mode] += 1
        return execute(sql, params, many, context)


class Command(BaseCommand):
    help = "Benchmark run traces: runs/s with TRACE_RUNS on and off (offline model), and storage per run; JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=200, help="Runs per mode (half with a tool call).")
        parser.add_argument("--rounds", type=int, default=10, help="Alternating rounds the runs are split into.")

    def handle(self, *args: Any, **options: Any) -> None:
        project, _ = Project.objects.get_or_create(name=BENCH_PROJECT, defaults={"display_name": "Bench traces"})
        Thread.objects.filter(project=project).delete()
        agent = agent_create(
            project=project, name="bench", model="gpt-4o", instructions="You are a benchmark.", tools=[TOOL]
        )
        per_round = max(options["runs"] // options["rounds"], 2)
        seconds: dict[str, list[float]] = {"on": [], "off": []}
        done = {"on": 0, "off": 0}
        statements = {"on": 0, "off": 0}
        with _no_broker():
            self._round(project, agent, 2, traced=True)  # warm caches and connections
            for index in range(options["rounds"]):
                order = ("on", "off") if index % 2 == 0 else ("off", "on")
                for mode in order:
                    began = time.perf_counter()
                    with connection.execute_wrapper(_Counter(statements, mode)):
                        self._round(project, agent, per_round, traced=mode == "on")
                    seconds[mode].append(time.perf_counter() - began)
                    done[mode] += per_round
        rate = {mode: done[mode] / sum(seconds[mode]) for mode in seconds}
        spans = RunSpan.objects.filter(run__thread__project=project)
        traced_runs = done["on"] + 2
        payload = sum(len(json.dumps(s.attributes)) + len(json.dumps(s.input or [])) for s in spans.iterator())
        result: dict[str, Any] = {
            "database": connection.vendor,
            "runs_per_mode": done["on"],
            "runs_per_second": {mode: round(value, 1) for mode, value in rate.items()},
            "median_round_seconds": {mode: round(statistics.median(v), 3) for mode, v in seconds.items()},
            "tracing_cost_percent": round((rate["off"] - rate["on"]) / rate["off"] * 100, 1),
            # The deterministic part of the cost: SQL statements per run (the spans' INSERTs ride in the
            # transactions the run makes anyway, so they add no commit).
            "statements_per_run": {mode: round(statements[mode] / done[mode], 2) for mode in statements},
            "spans_per_run": round(spans.count() / traced_runs, 2),
            "span_payload_bytes_per_run": round(payload / traced_runs),
        }
        if connection.vendor == "postgresql" and RunSpan.objects.count() == spans.count():
            # The table and its indexes on disk, when it holds only this benchmark's spans.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM agents_admin_runspan")
                cursor.execute("SELECT pg_total_relation_size('agents_admin_runspan')")
                result["runspan_disk_bytes_per_run"] = round(cursor.fetchone()[0] / traced_runs)
        Thread.objects.filter(project=project).delete()
        agent.delete()
        self.stdout.write(json.dumps(result, indent=2))

    def _round(self, project: Project, agent: Any, count: int, *, traced: bool) -> None:
        with override_settings(TRACE_RUNS=traced):
            for index in range(count):
                tool = index % 2 == 1
                thread = thread_create(
                    project=project,
                    messages=[{"role": "user", "content": "/tool lookup {}" if tool else f"Question {index}"}],
                )
                run = run_create(thread=thread, agent=agent, options=RunOptions())
                run_execute(run_id=run.id)
                if tool:
                    run.refresh_from_db()
                    outputs = [{"tool_call_id": c["id"], "output": "found it"} for c in run.pending_tool_calls]
                    run_submit_tool_outputs(run=run, tool_outputs=outputs)
                    run_execute(run_id=run.id)
