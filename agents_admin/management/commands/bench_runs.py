"""Benchmark (not a test) for the run engine end to end: N runs of the offline model on N threads, sent through
the real broker to real Celery workers; prints JSON.

Measured: enqueue -> in_progress (a run's ``started_at - created_at``) p50/p95, runs completed per second (N over
the time from the first run created to the last one completed), worker time per run (``completed_at -
started_at``), the CPU time the workers and the creating process spent per run (which other load on a shared
machine does not change, unlike the rates), and, for one more run executed in this process, the statements
and writes the run path makes.

The command starts ``--workers`` workers itself (``--concurrency`` processes each), or uses a running stack with
``--workers 0``. ``--rate`` paces the creation (pickup latency below capacity) instead of a burst (throughput,
where the latency is mostly time in the queue). Everything lives in a project named ``bench-runs``, emptied
before and after; use a scratch database anyway (``make bench-runs`` does).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_admin.lib import embedded_broker
from agents_admin.management.commands._stack import StackProcess, broker_start_if_needed, start_worker
from agents_admin.models import Message, Project, Run, Thread
from agents_admin.services.agents import agent_create
from agents_admin.services.runs import run_create, run_execute
from agents_admin.services.stores import RunOptions
from agents_admin.services.threads import message_create, thread_create

BENCH_PROJECT = "bench-runs"
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class Command(BaseCommand):
    help = "Benchmark runs end to end (N runs on N threads, offline model, real workers); print JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=300)
        parser.add_argument("--workers", type=int, default=1, help="Workers to start (0: use a running stack).")
        parser.add_argument("--concurrency", type=int, default=2, help="Pool processes per worker.")
        parser.add_argument(
            "--rate", type=float, default=0, help="Create runs at this many per second (0: as fast as possible)."
        )
        parser.add_argument("--timeout", type=float, default=900)
        parser.add_argument("--output", default="", help="Also write the JSON to this file.")

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["runs"]
        self._clear()
        project = Project.objects.create(name=BENCH_PROJECT, display_name="Run benchmark")
        agent = agent_create(project=project, name="Bench", model="gpt-4o", instructions="Answer briefly.")
        threads = [thread_create(project=project) for _ in range(count + 1)]
        for index, thread in enumerate(threads):
            message_create(thread=thread, role="user", content=f"Question number {index}: what is new?")
        workers: list[StackProcess] = []
        broker = broker_start_if_needed()
        try:
            for number in range(options["workers"]):
                workers.append(start_worker(f"bench{number}", concurrency=options["concurrency"]))
            cpu_before = sum(worker.cpu_seconds() for worker in workers)
            result = self._measure(agent, threads[:count], timeout=options["timeout"], rate=options["rate"])
            if workers:
                cpu = sum(worker.cpu_seconds() for worker in workers) - cpu_before
                result["worker_cpu_ms_per_run"] = ms(cpu / count)
        finally:
            for worker in workers:
                worker.stop()
            if broker is not None:
                embedded_broker.stop(broker)
        result["path"] = self._path_cost(agent, threads[count])
        result["conditions"] = {
            "database": connection.vendor,
            "broker": "redis" if settings.REDIS_URL else "embedded",
            "workers": options["workers"],
            "concurrency": options["concurrency"],
            "rate": options["rate"] or "burst",
        }
        self._clear()
        text = json.dumps(result, indent=2)
        if options["output"]:
            Path(options["output"]).write_text(text + "\n")
        self.stdout.write(text)

    def _measure(self, agent: Any, threads: list[Thread], *, timeout: float, rate: float) -> dict[str, Any]:
        began, cpu = time.monotonic(), time.process_time()
        ids = []
        for index, thread in enumerate(threads):
            if rate:
                time.sleep(max(0.0, began + index / rate - time.monotonic()))
            ids.append(run_create(thread=thread, agent=agent, options=RunOptions()).id)
        created_in, create_cpu = time.monotonic() - began, time.process_time() - cpu
        deadline = time.monotonic() + timeout
        while Run.objects.filter(pk__in=ids, status__in=["queued", "in_progress"]).exists():
            if time.monotonic() > deadline:
                raise CommandError(f"runs still unfinished after {timeout}s")
            time.sleep(0.2)
        rows = list(Run.objects.filter(pk__in=ids).values("status", "created_at", "started_at", "completed_at"))
        done = [r for r in rows if r["status"] == "completed"]
        if not done:
            raise CommandError(f"no run completed: {sorted({r['status'] for r in rows})}")
        pickup = [(r["started_at"] - r["created_at"]).total_seconds() for r in done]
        work = [(r["completed_at"] - r["started_at"]).total_seconds() for r in done]
        span = (max(r["completed_at"] for r in done) - min(r["created_at"] for r in rows)).total_seconds()
        statuses: dict[str, int] = {}
        for row in rows:
            statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        assistant = Message.objects.filter(run_id__in=ids, role="assistant").count()
        return {
            "runs": len(ids),
            "statuses": statuses,
            "assistant_messages": assistant,
            "created_per_s": round(len(ids) / created_in, 1),
            "create_cpu_ms_per_run": ms(create_cpu / len(ids)),
            "runs_per_s": round(len(done) / span, 1),
            "enqueue_to_in_progress_ms": {"p50": ms(statistics.median(pickup)), "p95": ms(percentile(pickup, 0.95))},
            "worker_ms_per_run": {"p50": ms(statistics.median(work)), "p95": ms(percentile(work, 0.95))},
        }

    def _path_cost(self, agent: Any, thread: Thread) -> dict[str, int]:
        """Statements and writes of one run's path in the worker (claim to completion), in this process."""
        run = run_create(thread=thread, agent=agent, options=RunOptions())
        with CaptureQueriesContext(connection) as queries:
            run_execute(run_id=run.id)
        sql = [q["sql"].lstrip().upper() for q in queries.captured_queries]
        statements = [s for s in sql if not s.startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK"))]
        return {"statements": len(statements), "writes": sum(s.startswith(WRITE_VERBS) for s in statements)}

    def _clear(self) -> None:
        Run.objects.filter(thread__project__name=BENCH_PROJECT).delete()
        Thread.objects.filter(project__name=BENCH_PROJECT).delete()
        Project.objects.filter(name=BENCH_PROJECT).delete()
