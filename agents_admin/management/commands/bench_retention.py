"""Benchmark (not a test) for retention: bulk-generate threads, preview and purge half of them, report speed
and peak memory as JSON; then generate the same data again and delete the same rows with plain SQL DELETEs (one
transaction per batch of thread ids, children first), the floor the purge is compared with
(``purge_vs_raw_sql``: the purge's threads/s over the raw delete's).

The preview and the purge run in a child process, so its peak RSS measures the purge alone (not the data
generation); comparing 10k and 100k threads shows memory does not grow with the number of threads. Everything
lives in a project named ``bench-retention`` that is emptied before and after; use a scratch database anyway
(``make bench-retention`` does).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from datetime import time as dtime
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, reset_queries, transaction
from django.utils import timezone

from agents_admin.models import (
    Message,
    Project,
    PurgeReport,
    RetentionPolicy,
    Run,
    RunSpan,
    RunStep,
    Thread,
    ThreadHold,
)
from agents_admin.services import retention

BENCH_PROJECT = "bench-retention"
INSERT_BATCH = 5_000
CONTENT = [{"type": "text", "text": {"value": "x", "annotations": []}}]


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux keeps ru_maxrss across exec (a child starts with its parent's
    peak), so prefer the kernel's per-address-space high-water mark VmHWM, which starts afresh in the child."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1)


class Command(BaseCommand):
    help = "Benchmark retention: generate --threads x --messages-per-thread, preview and purge half; print JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threads", type=int, default=100_000)
        parser.add_argument("--messages-per-thread", type=int, default=10)
        parser.add_argument("--stale-fraction", type=float, default=0.5, help="Share of threads old enough to go.")
        parser.add_argument("--batch-size", type=int, default=retention.BATCH_SIZE)
        parser.add_argument("--output", default="", help="JSON file (default var/bench-retention-<threads>.json).")
        parser.add_argument(
            "--purge-only", type=int, default=0, help="Internal: run the preview and purge phase for this policy id."
        )
        parser.add_argument("--raw-only", default="", help="Internal: delete this project's stale threads with SQL.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["purge_only"]:
            self.stdout.write(json.dumps(self._purge(options["purge_only"], options["batch_size"])))
            return
        if options["raw_only"]:
            self.stdout.write(json.dumps(self._raw_delete(options["raw_only"], options["batch_size"])))
            return
        sizes = (options["threads"], options["messages_per_thread"], options["stale_fraction"])
        project = self._reset()
        generated = self._generate(project, *sizes)
        policy = retention.policy_save(
            policy=None, actor=None, name="bench", project=project, days=30, daily_at=dtime(3, 0), enabled=False
        )
        purge = self._child("--purge-only", str(policy.pk), options["batch_size"])
        remaining = Thread.objects.filter(project=project).count()
        project = self._reset()
        self._generate(project, *sizes)
        raw = self._child("--raw-only", project.name, options["batch_size"])
        self._reset()
        result = {
            "database": connection.vendor,
            "threads": options["threads"],
            "messages_per_thread": options["messages_per_thread"],
            "batch_size": options["batch_size"],
            "generate": generated,
            **purge,
            "raw_sql_delete": raw,
            "purge_vs_raw_sql": round(purge["purge"]["threads_per_s"] / raw["threads_per_s"], 2),
            # This process's CPU (on SQLite the database's work too; PostgreSQL's server CPU is not in it).
            "purge_vs_raw_sql_cpu": round(raw["cpu_seconds"] / purge["purge"]["cpu_seconds"], 2),
            "threads_left": remaining,
            "peak_rss_mb_generator_process": peak_rss_mb(),
        }
        path = Path(options["output"] or Path(settings.VAR_DIR) / f"bench-retention-{options['threads']}.json")
        path.write_text(json.dumps(result, indent=2))
        self.stdout.write(json.dumps(result, indent=2))
        self.stdout.write(f"written to {path}")

    def _child(self, flag: str, value: str, batch_size: int) -> dict[str, Any]:
        """Run one measured phase in a fresh process (its peak memory is the phase's own)."""
        child = subprocess.run(
            [sys.executable, "manage.py", "bench_retention", flag, value, "--batch-size", str(batch_size)],
            cwd=settings.BASE_DIR, env={**os.environ, "DEBUG": "false", "SECRET_KEY": "bench-only"},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(child.stdout.strip().splitlines()[-1])

    def _raw_delete(self, project_name: str, batch_size: int) -> dict[str, Any]:
        """The floor: the rows the purge deletes, deleted by plain SQL in batches of thread ids, one transaction
        each, children first (no selection rules, holds, report or audit)."""
        began, cpu = time.monotonic(), time.process_time()
        stale = timezone.now() - timedelta(days=30)
        ids = list(
            Thread.objects.filter(project__name=project_name, last_activity_at__lte=stale)
            .order_by("last_activity_at", "id")
            .values_list("id", flat=True)
        )
        tables = [m._meta.db_table for m in (RunSpan, RunStep, Message, Run, Thread)]
        deleted = 0
        with connection.cursor() as cursor:
            for start in range(0, len(ids), batch_size):
                chunk = ids[start : start + batch_size]
                marks = ", ".join(["%s"] * len(chunk))
                with transaction.atomic():
                    for table in tables:
                        column = "id" if table == Thread._meta.db_table else "thread_id"
                        cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", chunk)  # noqa: S608
                        deleted += cursor.rowcount
        seconds = time.monotonic() - began
        return {"seconds": round(seconds, 2), "cpu_seconds": round(time.process_time() - cpu, 2), "rows": deleted,
                "threads": len(ids),
                "threads_per_s": round(len(ids) / seconds) if seconds else None}  # fmt: skip

    def _reset(self) -> Project:
        project, _ = Project.objects.get_or_create(name=BENCH_PROJECT, defaults={"display_name": "Benchmark"})
        threads = Thread.objects.filter(project=project)
        RunStep.objects.filter(thread__in=threads).delete()
        Message.objects.filter(thread__in=threads).delete()
        Run.objects.filter(thread__in=threads).delete()
        ThreadHold.objects.filter(thread__in=threads).delete()
        while ids := list(threads.values_list("pk", flat=True)[:INSERT_BATCH]):
            Thread.objects.filter(pk__in=ids).delete()
        RetentionPolicy.objects.filter(project=project).delete()
        return project

    def _generate(self, project: Project, count: int, per_thread: int, stale_fraction: float) -> dict[str, Any]:
        began = time.monotonic()
        now = timezone.now()
        stale_count = int(count * stale_fraction)
        for start in range(0, count, INSERT_BATCH):
            numbers = range(start, min(count, start + INSERT_BATCH))
            with transaction.atomic():
                threads = [
                    Thread(id=f"thread_bench{n:012d}", project=project, message_count=per_thread) for n in numbers
                ]
                Thread.objects.bulk_create(threads, batch_size=1000)
                # Finished runs are in the usage rollups already (the engine counts a run as it ends).
                runs = [
                    Run(id=f"run_bench{n:012d}", thread_id=f"thread_bench{n:012d}", agent_ref="asst_bench",
                        agent_version=1, model="bench", status="completed", expires_at=now, usage_counted=True)
                    for n in numbers
                ]  # fmt: skip
                Run.objects.bulk_create(runs, batch_size=1000)
                steps = [
                    RunStep(id=f"step_bench{n:012d}", run_id=f"run_bench{n:012d}", thread_id=f"thread_bench{n:012d}",
                            type="message_creation", status="completed")
                    for n in numbers
                ]  # fmt: skip
                RunStep.objects.bulk_create(steps, batch_size=1000)
                messages = [
                    Message(id=f"msg_bench{n:012d}{s:05d}", thread_id=f"thread_bench{n:012d}", seq=s + 1,
                            role="user", content=CONTENT, text="x")
                    for n in numbers
                    for s in range(per_thread)
                ]  # fmt: skip
                Message.objects.bulk_create(messages, batch_size=2000)
            # With DEBUG on, Django keeps the (huge) bulk INSERT statements; they are not the data being measured.
            reset_queries()
        # auto_now_add set "now" on insert; age the stale share in one statement.
        old = now - timedelta(days=40)
        Thread.objects.filter(project=project, id__lt=f"thread_bench{stale_count:012d}").update(
            last_activity_at=old, created_at=old
        )
        # Fresh planner statistics, as autovacuum would gather after a bulk load; without them PostgreSQL guesses
        # a handful of rows and picks a sort over an index walk.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        seconds = time.monotonic() - began
        rows = count * (per_thread + 3)
        return {"seconds": round(seconds, 2), "rows": rows, "rows_per_s": round(rows / seconds), "stale": stale_count}

    def _purge(self, policy_id: int, batch_size: int) -> dict[str, Any]:
        policy = RetentionPolicy.objects.get(pk=policy_id)
        rss_start = peak_rss_mb()
        figures: dict[str, Any] = {}
        for phase, dry_run in (("preview", True), ("purge", False)):
            began, cpu = time.monotonic(), time.process_time()
            report = retention.purge_start(
                policy=policy, trigger=PurgeReport.Trigger.COMMAND, dry_run=dry_run, enqueue=False
            )
            done = retention.purge_execute(report_id=report.pk, batch_size=batch_size)
            assert done is not None
            seconds = time.monotonic() - began
            figures[phase] = {
                "status": done.status,
                "seconds": round(seconds, 2),
                "cpu_seconds": round(time.process_time() - cpu, 2),
                "threads": done.threads,
                "messages": done.messages,
                "runs": done.runs,
                "steps": done.steps,
                "threads_per_s": round(done.threads / seconds) if seconds else None,
                "messages_per_s": round(done.messages / seconds) if seconds else None,
                "peak_rss_mb_so_far": peak_rss_mb(),
            }
        figures["peak_rss_mb_purge_process_start"] = rss_start
        figures["peak_rss_mb_purge_process"] = peak_rss_mb()
        return figures
