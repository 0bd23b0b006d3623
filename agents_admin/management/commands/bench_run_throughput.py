"""Measure what the usage rollups add to a run: runs/s through the run engine with and without the rollup write.

Each run is created and executed in this process with the offline model; the task a run's creation would send is
not sent, as this process executes the run itself. So the figure is the engine's own work per run. Rounds
alternate with and without the rollup write, so other load on the machine slows both alike. Use a scratch
database: it leaves its runs behind.
"""

from __future__ import annotations

import statistics
import time
from typing import Any
from unittest import mock

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from agents_admin.models import Agent, Project, Thread
from agents_admin.services import run_status, stores, usage
from agents_admin.services.runs import run_create, run_execute
from agents_admin.services.stores import RunOptions
from agents_admin.services.threads import message_create, thread_create


class Command(BaseCommand):
    help = "Runs/s through the run engine with and without the usage rollup write (alternating rounds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=100, help="runs per round")
        parser.add_argument("--rounds", type=int, default=6, help="rounds of each kind, alternating")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.get_or_create(name=Project.DEFAULT_NAME)[0]
        agent = Agent.objects.create(project=project, name="Throughput", model="bench-offline", instructions="Hi.")
        threads = [thread_create(project=project) for _ in range(options["runs"])]
        for thread in threads:
            message_create(thread=thread, role="user", content="How fast is this?")
        kinds = ("with rollups", "without rollups")
        wall: dict[str, list[float]] = {kind: [] for kind in kinds}
        cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
        queries: dict[str, float] = {}
        for round_number in range(options["rounds"] * 2):
            kind = kinds[round_number % 2]
            per_wall, per_cpu, per_queries = self._round(agent, threads, rollups=kind == kinds[0])
            wall[kind].append(per_wall)
            cpu[kind].append(per_cpu)
            queries[kind] = per_queries
            self.stdout.write(
                f"  round {round_number + 1}: {kind}: {per_wall:.1f} runs/s, {per_cpu:.1f} runs per CPU s"
            )
        for name, rates in (("wall clock", wall), ("CPU of this process", cpu)):
            with_, without = (statistics.median(rates[k]) for k in kinds)
            self.stdout.write(
                f"{name}: median {with_:.1f} runs/s with the rollup write, {without:.1f} without: "
                f"{(without / with_ - 1) * 100:+.1f} % time per run."
            )
        self.stdout.write(f"Queries per run: {queries[kinds[0]]:.1f} with, {queries[kinds[1]]:.1f} without.")

    def _round(self, agent: Agent, threads: list[Thread], *, rollups: bool) -> tuple[float, float, float]:
        """One round: runs/s by the wall clock, runs per CPU second of this process, queries per run."""
        # Without: no rollup write, neither in a run's final transition (runs that end unanswered) nor in the
        # settle that adds the answered runs in batches (it still marks them counted and moves their spans).
        patches = [
            mock.patch.object(run_status, "usage_record_run", lambda run_id, **_: None),
            mock.patch.object(usage.UsageTally, "write", lambda self: None),
        ] if not rollups else []  # fmt: skip
        for patch in patches:
            patch.start()
        try:
            statements = 0

            def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
                nonlocal statements
                statements += 1
                return execute(sql, params, many, context)

            # Counted by a wrapper: the query log keeps only the last 9,000, fewer than a round makes.
            with mock.patch.object(stores, "task_send", lambda *args: None), connection.execute_wrapper(count):
                started, cpu_started = time.perf_counter(), time.process_time()
                for thread in threads:
                    run = run_create(thread=thread, agent=agent, options=RunOptions())
                    run_execute(run_id=run.id)
                # Each round settles its own runs (a worker settles every 20 runs or 1 s, which would otherwise
                # fall in every other round): the rollups of the answered runs are written here.
                usage.runs_settle()
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            return len(threads) / wall, len(threads) / cpu, statements / len(threads)
        finally:
            for patch in patches:
                patch.stop()
