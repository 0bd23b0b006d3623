"""Measure review queue intake on the benchmark data: a backfill queue over every thread, fed window by window as
the beat task feeds it, with the throughput (threads read per second) and the process's memory along the way.

Run it on the `make bench` database (it adds one queue, "bench intake <timestamp>", with its items, and leaves
them there so "My queue" has something to show).
"""

from __future__ import annotations

import resource
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from agents_admin.models import ReviewItem, Thread
from agents_admin.services.review_queues import INTAKE_WINDOW, queue_create, queue_intake


def rss_mb() -> float:
    """The process's resident memory now (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Command(BaseCommand):
    help = "Time review queue intake (a backfill of every thread): threads/s, and memory flat across windows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--window", type=int, default=INTAKE_WINDOW)
        parser.add_argument("--sample", type=int, default=None, help="a sample of N %% instead of every thread")

    def handle(self, *args: Any, **options: Any) -> None:
        # DEBUG keeps every query (with its 1,000 ids) in memory: measure as production runs.
        with override_settings(DEBUG=False):
            self._measure(options)

    def _measure(self, options: dict[str, Any]) -> None:
        users = get_user_model().objects
        reviewers = [
            users.filter(username=name).first() or users.create_superuser(name, f"{name}@example.com", "bench-pass-123")
            for name in ("bench", "bench-2")
        ]
        entry = {"entry": "sample", "sample_percent": options["sample"]} if options["sample"] else {}
        queue = queue_create(
            data={
                "name": f"bench intake {timezone.now():%Y-%m-%d %H:%M:%S}",
                "scope": "backfill",
                "reviewers": reviewers,
                "rubric": [{"label": "Resolved?", "kind": "yes_no", "required": True}],
                **entry,
            }
        )
        threads = Thread.objects.count()
        later = timezone.now() + timedelta(hours=1)
        started = time.perf_counter()
        base_rss, samples, windows, read, entered = rss_mb(), [], 0, 0, 0
        while True:
            result = queue_intake(queue_id=queue.pk, now=later, window=options["window"])
            windows += 1
            read += result.read
            entered += result.entered
            if windows % 10 == 0:
                samples.append(rss_mb())
            if not result.more:
                break
        elapsed = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert ReviewItem.objects.filter(queue=queue).count() == entered
        rate, item_rate = read / elapsed, entered / elapsed
        self.stdout.write(
            f"{connection.vendor}: {threads:,} threads, window {options['window']:,}: read {read:,} in {windows} "
            f"windows, entered {entered:,} items in {elapsed:.1f} s = {rate:,.0f} threads/s ({item_rate:,.0f} items/s)"
        )
        if samples:
            self.stdout.write(
                f"RSS: {base_rss:.0f} MB before, {samples[0]:.0f} MB after 10 windows, {samples[-1]:.0f} MB after "
                f"{len(samples) * 10} windows; peak {peak_mb:.0f} MB"
            )
