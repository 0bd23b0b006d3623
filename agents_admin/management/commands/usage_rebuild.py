"""Bring the usage rollups up to date from the runs: count finished runs not yet counted, or recount a range."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date

from agents_admin.models import Run, UsageRollup
from agents_admin.services import usage


class Command(BaseCommand):
    help = (
        "Count finished runs missing from the usage rollups (safe, the default). --since YYYY-MM-DD --recount "
        "recounts from that day on out of the runs still present: usage of runs purged since is lost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="First day (UTC) to recount, YYYY-MM-DD (with --recount).")
        parser.add_argument("--recount", action="store_true", help="Drop and recount the rollups from --since.")
        parser.add_argument("--yes", action="store_true", help="Confirm --recount without asking.")

    def handle(self, *args: Any, **options: Any) -> None:
        progress = self._progress
        if not options["recount"]:
            counted = usage.usage_backfill(progress=progress)
            self.stdout.write(f"Counted {counted} finished runs that were missing from the usage rollups.")
            return
        day = parse_date(options["since"] or "")
        if day is None:
            raise CommandError("--recount needs --since YYYY-MM-DD (the first day to recount).")
        since = datetime.combine(day, time.min, tzinfo=UTC)
        rows = UsageRollup.objects.filter(bucket__gte=since).count()
        runs = Run.objects.filter(created_at__gte=since).count()
        self.stdout.write(
            f"This drops {rows} rollup rows from {day} on and recounts them from the {runs} runs still present. "
            "Usage of runs deleted since (retention) is lost."
        )
        if not options["yes"] and input("Type 'recount' to go on: ").strip() != "recount":
            raise CommandError("Not confirmed; nothing changed.")
        counted = usage.usage_rebuild(since=since, actor_label="cli", progress=progress)
        self.stdout.write(f"Recounted {counted} runs from {day} on.")

    def _progress(self, done: int) -> None:
        if done % 10_000 < usage.BACKFILL_BATCH:
            self.stdout.write(f"  {done} runs counted")
