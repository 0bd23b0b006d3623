"""Run retention policies now, in this process (for operators who drive retention from cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents_admin.models import PurgeReport, RetentionPolicy
from agents_admin.services import retention


class Command(BaseCommand):
    help = "Apply retention policies now (all enabled ones, or --policy ID); --dry-run only counts what would go."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--policy", type=int, help="Only this policy (enabled or not).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be purged; delete nothing.")
        parser.add_argument("--batch-size", type=int, default=retention.BATCH_SIZE, help="Threads per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["policy"] is not None:
            policies = list(RetentionPolicy.objects.filter(pk=options["policy"]))
            if not policies:
                raise CommandError(f"No retention policy with id {options['policy']}.")
        else:
            policies = list(RetentionPolicy.objects.filter(enabled=True).order_by("id"))
            if not policies:
                self.stdout.write("No enabled retention policy; nothing to do.")
                return
        failed = 0
        for policy in policies:
            report = retention.purge_start(
                policy=policy, trigger=PurgeReport.Trigger.COMMAND, dry_run=options["dry_run"], enqueue=False
            )
            done = retention.purge_execute(report_id=report.pk, batch_size=options["batch_size"]) or report
            verb = "would purge" if done.dry_run else ("trimmed" if done.action == "trim" else "purged")
            self.stdout.write(
                f"{policy.name} (policy {policy.pk}, report {done.pk}): {done.status}; {verb} {done.threads} threads, "
                f"{done.messages} messages, {done.runs} runs, {done.steps} steps, {done.files} files; skipped "
                f"{done.skipped_held} on hold, {done.skipped_active} with an active run; "
                f"{done.duration_seconds or 0:.1f} s"
            )
            for error in done.errors:
                self.stderr.write(f"  error: {error.get('error')}")
            failed += done.status == PurgeReport.Status.FAILED
        if failed:
            raise CommandError(f"{failed} polic{'y' if failed == 1 else 'ies'} failed; see the reports above.")
