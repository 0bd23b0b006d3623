"""``manage.py chaos``: the fault kit. Starts a stack on this machine (an embedded Valkey broker it may restart,
``--workers`` workers, beat) on the configured database, then for each fault: creates ``--runs`` streamed runs of
the offline model, injects the fault while they are in flight, and waits for every run to end. Prints, per
fault, the runs lost (ended other than completed), stuck (still active at the deadline), duplicated (a thread
with more than one assistant message, or a message left in progress) and the recovery time (the fault to the
last run completed), as a table and as JSON.

Faults: ``child`` (SIGKILL a pool process running a run), ``worker`` (SIGKILL a whole worker, then start a new
one), ``broker`` (restart the broker without persistence: queued messages are lost), ``db`` (terminate the
stack's PostgreSQL connections; skipped on SQLite), ``beat`` (stop beat, kill a worker meanwhile, start beat
again). Everything lives in a project named ``chaos``, emptied before and after; use a scratch database.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Count

from agents_admin.lib import embedded_broker
from agents_admin.management.commands._stack import StackProcess, start_beat, start_worker
from agents_admin.models import Message, Project, Run, Thread
from agents_admin.services.agents import agent_create
from agents_admin.services.runs import run_create
from agents_admin.services.stores import RunOptions
from agents_admin.services.threads import message_create, thread_create

CHAOS_PROJECT = "chaos"
FAULTS = ("child", "worker", "broker", "db", "beat")
ACTIVE = ("queued", "in_progress", "cancelling", "requires_action")


class Command(BaseCommand):
    help = "Inject faults into a local stack and report runs lost, stuck and duplicated, and recovery times."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--faults", default=",".join(FAULTS), help=f"Comma list of {', '.join(FAULTS)}.")
        parser.add_argument("--runs", type=int, default=10, help="Runs in flight per fault.")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--slow", type=float, default=3.0, help="Seconds each streamed answer takes.")
        parser.add_argument("--deadline", type=float, default=90.0, help="Seconds a fault's runs may take to end.")
        parser.add_argument("--output", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.REDIS_URL:
            raise CommandError("Run without REDIS_URL: the kit starts (and restarts) its own broker.")
        faults = [f.strip() for f in options["faults"].split(",") if f.strip()]
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise CommandError(f"unknown faults: {sorted(unknown)}")
        self.options = options
        self.env = {"OFFLINE_SLOW_SECONDS": str(options["slow"])}
        self.socket = Path(settings.EMBEDDED_BROKER_SOCKET)
        if embedded_broker.ping(self.socket):
            raise CommandError(f"A broker already answers on {self.socket}: stop that stack, or use another VAR_DIR.")
        self._clear()
        self.project = Project.objects.create(name=CHAOS_PROJECT, display_name="Chaos")
        self.agent = agent_create(project=self.project, name="Chaos", model="gpt-4o", instructions="Stream.")
        self.broker = embedded_broker.start(self.socket.parent, self.socket, persist=False)
        self.workers = [self._worker(n) for n in range(options["workers"])]
        self.beat = start_beat()
        results = []
        try:
            for fault in faults:
                if fault == "db" and connection.vendor != "postgresql":
                    continue
                results.append(self._trial(fault, getattr(self, f"_fault_{fault}")))
        finally:
            for process in [*self.workers, self.beat]:
                process.stop()
            embedded_broker.stop(self.broker)
            self._clear()
        self._report(results)

    # --- the trial -----------------------------------------------------------------------------------

    def _trial(self, fault: str, inject: Callable[[list[str]], None]) -> dict[str, Any]:
        ids = []
        for index in range(self.options["runs"]):
            thread = thread_create(project=self.project)
            message_create(thread=thread, role="user", content=f"/slow story {index}")
            ids.append(run_create(thread=thread, agent=self.agent, options=RunOptions()).id)
        self._wait(lambda: Run.objects.filter(pk__in=ids, status="in_progress").count() >= min(len(ids), 2), 30)
        time.sleep(0.5)  # the runs have streamed a first part of their answer
        began = time.time()
        inject(ids)
        deadline = time.monotonic() + self.options["deadline"]
        while Run.objects.filter(pk__in=ids, status__in=ACTIVE).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        runs = list(Run.objects.filter(pk__in=ids).values("id", "status", "completed_at", "attempts", "thread_id"))
        threads = [r["thread_id"] for r in runs]
        answers = Message.objects.filter(thread_id__in=threads, role="assistant")
        per_thread = answers.values("thread_id").annotate(n=Count("id"))
        completed = [r for r in runs if r["status"] == "completed"]
        last = max((r["completed_at"].timestamp() for r in completed), default=began)
        return {
            "fault": fault,
            "runs": len(runs),
            "completed": len(completed),
            "lost": sum(r["status"] not in ACTIVE and r["status"] != "completed" for r in runs),
            "stuck": sum(r["status"] in ACTIVE for r in runs),
            "duplicated": sum(row["n"] > 1 for row in per_thread),
            "messages_left_in_progress": answers.filter(status="in_progress").count(),
            "retried_runs": sum(r["attempts"] > 1 for r in runs),
            "recovery_s": round(last - began, 1),
        }

    # --- faults --------------------------------------------------------------------------------------

    def _fault_child(self, ids: list[str]) -> None:
        """SIGKILL every pool process that holds one of the runs (as the OOM killer would)."""
        for token in Run.objects.filter(pk__in=ids, status="in_progress").values_list("claimed_by", flat=True):
            pid = int(token.split("/")[1])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _fault_worker(self, ids: list[str]) -> None:
        """SIGKILL a whole worker (main process and pool), then start a replacement."""
        self.workers[0].kill()
        self.workers[0] = self._worker(0)

    def _fault_broker(self, ids: list[str]) -> None:
        """Restart the broker without persistence: every message it held is gone."""
        embedded_broker.stop(self.broker)
        time.sleep(1)
        self.broker = embedded_broker.start(self.socket.parent, self.socket, persist=False)

    def _fault_db(self, ids: list[str]) -> None:
        """Terminate every other connection to this database (the stack's), as a failover or restart would."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    def _fault_beat(self, ids: list[str]) -> None:
        """Stop beat, SIGKILL a worker while beat is down and start a new one, then start beat again."""
        self.beat.stop()
        self._fault_worker(ids)
        time.sleep(5)
        self.beat = start_beat()

    # --- helpers -------------------------------------------------------------------------------------

    def _worker(self, number: int) -> StackProcess:
        return start_worker(f"chaos{number}", **self.env)

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise CommandError("the runs did not start; see the logs under VAR_DIR/stack")
            time.sleep(0.1)

    def _report(self, results: list[dict[str, Any]]) -> None:
        columns = ["fault", "runs", "completed", "lost", "stuck", "duplicated", "messages_left_in_progress",
                   "retried_runs", "recovery_s"]  # fmt: skip
        self.stdout.write(" | ".join(columns))
        for row in results:
            self.stdout.write(" | ".join(str(row[c]) for c in columns))
        text = json.dumps({"database": connection.vendor, "results": results}, indent=2)
        if self.options["output"]:
            Path(self.options["output"]).write_text(text + "\n")
        self.stdout.write(text)

    def _clear(self) -> None:
        Run.objects.filter(thread__project__name=CHAOS_PROJECT).delete()
        Thread.objects.filter(project__name=CHAOS_PROJECT).delete()
        Project.objects.filter(name=CHAOS_PROJECT).delete()
