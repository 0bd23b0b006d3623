"""``manage.py worker_probe``: a liveness probe for one Celery worker that executes a task, not only a process
check. Exit status 0 when the worker is healthy, 1 (with the reason) when it is not; use it as the worker
container's health check.

1. The worker's main process must answer a remote-control request for its active tasks (a wedged consumer
   does not).
2. If one of its pool processes is free, a probe task sent to the worker's own queue (``worker_direct``) must
   run within ``--timeout``: it is fetched, handed to a pool process, reaches the database and answers through
   the cache. A pool whose processes are blocked never runs it.
3. If every pool process is busy, each task must have started within the task hard time limit (a task older
   than that is stuck: the limit should have ended it).
"""

from __future__ import annotations

import secrets
import socket
import time
from typing import Any

from celery import current_app
from celery.utils import worker_direct
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents_admin.services.maintenance import worker_probe_answered

PROBE_TASK = "agents_admin.tasks.worker_probe"


class Command(BaseCommand):
    help = "Probe one Celery worker by executing a task on it; exit 1 when it is not healthy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--worker", default=f"celery@{socket.gethostname()}", help="The worker's node name (default: this host's)."
        )
        parser.add_argument("--timeout", type=float, default=20.0, help="Seconds to wait for each answer.")

    def handle(self, *args: Any, **options: Any) -> None:
        node, timeout = options["worker"], options["timeout"]
        began = time.monotonic()
        replies = current_app.control.inspect([node], timeout=min(timeout, 5.0)).active() or {}
        if node not in replies:
            raise CommandError(f"{node}: its main process did not answer (down, or its consumer is wedged).")
        active = replies[node]
        stats = current_app.control.inspect([node], timeout=min(timeout, 5.0)).stats() or {}
        concurrency = (stats.get(node) or {}).get("pool", {}).get("max-concurrency") or 1
        if len(active) >= concurrency:
            for task in active:
                limit = _hard_limit(task.get("name", ""))
                if time.time() - (task.get("time_start") or time.time()) > limit:
                    raise CommandError(
                        f"{node}: {task.get('name')} has run past its {limit} s hard time limit (stuck)."
                    )
            self.stdout.write(f"{node}: healthy, all {concurrency} pool processes busy within their time limits")
            return
        key = secrets.token_hex(8)
        current_app.send_task(PROBE_TASK, args=[key], queue=worker_direct(node))
        deadline = time.monotonic() + timeout
        while not worker_probe_answered(key=key):
            if time.monotonic() > deadline:
                raise CommandError(f"{node}: a probe task did not run within {timeout:g} s (pool stuck).")
            time.sleep(0.05)
        self.stdout.write(f"{node}: healthy, executed a probe task in {(time.monotonic() - began) * 1000:.0f} ms")


def _hard_limit(task_name: str) -> float:
    task = current_app.tasks.get(task_name)
    return float(getattr(task, "time_limit", None) or settings.CELERY_TASK_TIME_LIMIT)
