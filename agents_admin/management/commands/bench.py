"""Measure server time (p50/p95) of the console's pages on a big dataset, against their budgets.

Generates the data first when the database holds fewer threads than asked (use a dedicated database: `make bench`
points DATABASE_URL at var/bench/ unless it is set). Requests go through django.test.Client in-process with a
signed-in superuser, so the figures are server time: URL routing, middleware, queries and template rendering.
The budgets are p95 under 100 ms for lists, the thread page and home, under 300 ms for search; the Django admin
changelist of threads on the same data is measured too, as a point of comparison.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.models import Count
from django.test import Client, override_settings
from django.utils import timezone

from agents_admin.models import Agent, Message, Project, ReviewQueueReviewer, Run, Thread, UsageRollup
from agents_admin.selectors.search import message_search, thread_search
from agents_admin.selectors.threads import HAS_FAILED_RUN, ThreadFilters, thread_list
from agents_admin.services.api_keys import api_key_create
from agents_admin.services.maintenance import database_upkeep
from agents_admin.services.review_queues import queue_create, queue_intake

ADMIN_CHANGELIST = "/django-admin/agents_admin/thread/"
# p95 budgets in ms, by the case's first word: what a person waits for on each kind of page.
BUDGETS_MS = {
    "thread": 100.0,
    "agent": 100.0,
    "home": 100.0,
    "jump": 100.0,
    "search": 300.0,
    "usage": 200.0,
    "review": 100.0,
    "api": 100.0,
}


def budget_ms(case: str) -> float | None:
    """The p95 budget of a case; None for the admin reference and the bare selectors."""
    return BUDGETS_MS.get(case.split(" ", 1)[0])


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Command(BaseCommand):
    help = "Benchmark the console (thread list, thread page, search, agents, home) against the admin changelist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threads", type=int, default=100_000)
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--big-threads", type=int, default=None)
        parser.add_argument("--big-size", type=int, default=settings.MAX_MESSAGES_PER_THREAD)
        parser.add_argument("--runs", type=int, default=None, help="runs to generate with the threads (usage pages)")
        parser.add_argument("--only", default="", help="only the cases whose name starts with this (e.g. usage)")
        parser.add_argument("--repeat", type=int, default=20)
        parser.add_argument("--warmup", type=int, default=3)
        parser.add_argument("--output", default=str(settings.BASE_DIR / "bench-results"))

    def handle(self, *args: Any, **options: Any) -> None:
        have = Thread.objects.count()
        if have < options["threads"] * 0.9:
            self.stdout.write(f"Generating data ({have} threads present, {options['threads']} wanted) …")
            extra = {"big_threads": options["big_threads"]} if options["big_threads"] is not None else {}
            if options["runs"] is not None:
                extra["runs"] = options["runs"]
            call_command(
                "generate_demo_data",
                threads=options["threads"] - have,
                messages=options["messages"],
                big_size=options["big_size"],
                stdout=self.stdout,
                **extra,
            )
        # Measure the database as a running instance keeps it: the hourly upkeep task has refreshed SQLite's planner
        # statistics and merged its full-text index (no-ops on PostgreSQL, whose autovacuum does its own).
        self.upkeep = database_upkeep()
        self.stdout.write(f"Upkeep, as the hourly beat task does it: {self.upkeep}")
        self.repeat, self.warmup = options["repeat"], options["warmup"]
        user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_superuser(
            "bench", "bench@example.com", "bench-pass-123"
        )
        self.client = Client()
        self.client.force_login(user)
        self._review_queue(user)
        cases = [case for case in self._cases() if case[0].startswith(options["only"])]
        results: list[dict[str, Any]] = []
        # DEBUG would log every query in memory and render technical 500 pages; measure as production runs.
        with override_settings(DEBUG=False):
            results = self._measure_all(cases)
        self._report(results, options["output"])

    def _review_queue(self, user: Any) -> None:
        """A backfill queue reviewed by the bench user, so "My queue" has items to count: filled by intake windows up
        to 20,000 items (bench_review_intake measures a whole backfill)."""
        if ReviewQueueReviewer.objects.filter(user=user).exists():
            return
        queue = queue_create(
            data={
                "name": "bench",
                "scope": "backfill",
                "reviewers": [user],
                "rubric": [{"label": "Ok", "kind": "yes_no"}],
            }
        )
        later = timezone.now() + timedelta(hours=1)
        for _ in range(20):
            if not queue_intake(queue_id=queue.pk, now=later).more:
                break

    def _cases(self) -> list[tuple[str, str | Callable[[], object]]]:
        big = Thread.objects.order_by("-message_count").values_list("id", "message_count", "project__name").first()
        agent = Agent.objects.values_list("id", flat=True).first() or ""
        message = Message.objects.order_by("-created_at").values_list("id", flat=True).first() or ""
        cases: list[tuple[str, str | Callable[[], object]]] = [
            ("thread list /threads/", "/threads/"),
            ("thread list /threads/?run_status=failed", "/threads/?run_status=failed"),
            (f"thread list /threads/?agent={agent[:12]}…", f"/threads/?agent={agent}"),
            ("thread list /threads/?flag=escalated", "/threads/?flag=escalated"),
            ("thread list /threads/?sort=messages", "/threads/?sort=messages"),
            ("thread list /threads/?sort=created", "/threads/?sort=created"),
            ("thread list, failed run, by message count", f"/threads/?run_status={HAS_FAILED_RUN}&sort=messages"),
            ("review My queue /review/", "/review/"),
            ("selector thread_list()", lambda: thread_list(ThreadFilters())),
            (
                "selector thread_list(failed run, project)",
                lambda: thread_list(ThreadFilters(run_status=HAS_FAILED_RUN, project="support")),
            ),
            ("selector message_search('refund')", lambda: message_search(q="refund")),
            ("selector thread_search('refund')", lambda: thread_search(q="refund")),
            ("search page, filters only (failed run)", f"/search/?run_status={HAS_FAILED_RUN}"),
            ("search page, flag filter", "/search/?flag=escalated"),
            ("search page, metadata filter", "/search/?meta=customer%3Dcust-42"),
            ("search 'refund' + metadata filter", "/search/?q=refund&meta=customer%3Dcust-42"),
            ("search 'refund'", "/search/?q=refund"),
            (
                "search 'refund', second page",
                f"/search/?q=refund&cursor={quote(thread_search(q='refund').next_cursor)}",
            ),
            ("search 'password reset' (AND)", "/search/?q=password+reset"),
            ('search phrase "delivery address"', "/search/?q=%22delivery+address%22"),
            ("search rare word 'zeppelin'", "/search/?q=zeppelin"),
            (
                "search 'refund' + project + failed run",
                f"/search/?q=refund&project=support&run_status={HAS_FAILED_RUN}",
            ),
            # Broad filters: a third of all threads each.
            ("search 'refund' + project (broad)", "/search/?q=refund&project=support"),
            ("search 'refund' + metadata channel=web (broad)", "/search/?q=refund&meta=channel%3Dweb"),
            ("jump to a message id", f"/jump/?id={message}"),
            ("agent list /agents/", "/agents/"),
            ("home /", "/"),
            # Usage reads the rollups only: the same cost at 100k runs as at 1M (docs/usage.md).
            ("usage /usage/?range=30d", "/usage/?range=30d"),
            ("usage /usage/?range=90d", "/usage/?range=90d"),
            (f"usage 30d, one agent {agent[:12]}…", f"/usage/?range=30d&agent={agent}"),
            (f"usage 90d, one agent {agent[:12]}…", f"/usage/?range=90d&agent={agent}"),
            ("usage /usage/data.json?range=90d", "/usage/data.json?range=90d"),
        ]
        if settings.DJANGO_ADMIN_ENABLED:  # the reference point (make bench turns it on)
            cases += [
                ("admin changelist (threads)", ADMIN_CHANGELIST),
                ("admin changelist, failed filter", ADMIN_CHANGELIST + "?last_run_status__exact=failed"),
            ]
        if big:
            cases.insert(3, (f"thread page /threads/<{big[1]:,}-message thread>/", f"/threads/{big[0]}/"))
            # A search hit far back in it: the page opens the window around that message, highlighted.
            cases.insert(4, ("thread page opened at a hit, message 50", f"/threads/{big[0]}/?around=50&hl=refund"))
        return cases + self._api_cases(big)

    def _api_cases(self, big: tuple[str, int, str] | None) -> list[tuple[str, str | Callable[[], object]]]:
        """The v2 protocol's lists, as the SDKs page them (20 a page), with a key of the busiest agent's project:
        conversations (all, and Foundry's filter by agent: threads where it ran) and the largest thread's items."""
        agent = (
            Agent.objects.annotate(run_total=Count("runs")).order_by("-run_total").values("id", "project_id").first()
        )
        if agent is None:
            return []
        project = Project.objects.get(pk=agent["project_id"])
        base = f"/api/projects/{project.name}/openai/v1"

        def api(path: str, project: Project) -> Callable[[], object]:
            key = api_key_create(project=project, label="bench").secret

            def call() -> object:
                response = self.client.get(path, headers={"Authorization": f"Bearer {key}"})
                if response.status_code != 200:
                    raise RuntimeError(f"{path} answered {response.status_code}")
                return response

            return call

        cases: list[tuple[str, str | Callable[[], object]]] = [
            ("api v2 conversations", api(f"{base}/conversations?limit=20", project)),
            (
                "api v2 conversations, one agent",
                api(f"{base}/conversations?agent_name={agent['id']}&limit=20", project),
            ),
        ]
        if big:
            home = Project.objects.get(name=big[2])
            items = api(f"/api/projects/{home.name}/openai/v1/conversations/{big[0]}/items", home)
            cases.append((f"api v2 items of the {big[1]:,}-message thread", items))
        return cases

    def _call(self, target: str | Callable[[], object]) -> Callable[[], object]:
        """What one request of a case does."""
        if not isinstance(target, str):
            return target

        def call() -> object:
            response = self.client.get(target)
            if response.status_code not in (200, 302):
                raise RuntimeError(f"{target} answered {response.status_code}")
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
            return response

        return call

    def _measure_all(self, cases: list[tuple[str, str | Callable[[], object]]]) -> list[dict[str, Any]]:
        """Time every case ``repeat`` times, round-robin: one request of each case per round, so a burst of other
        work on the machine slows every case alike instead of whichever case was running (the ratios to the
        admin changelist stay fair on a shared machine)."""
        calls = [(name, target, self._call(target)) for name, target in cases]
        for _ in range(self.warmup):
            for _name, _target, call in calls:
                call()
        timings: dict[str, list[float]] = {name: [] for name, _target, _call in calls}
        # This process's CPU time too: on a shared machine the wall clock also counts waiting for a core.
        cpu: dict[str, list[float]] = {name: [] for name, _target, _call in calls}
        for _ in range(self.repeat):
            for name, _target, call in calls:
                started, cpu_started = time.perf_counter(), time.process_time()
                call()
                timings[name].append((time.perf_counter() - started) * 1000)
                cpu[name].append((time.process_time() - cpu_started) * 1000)
        results = []
        for name, target, _call in calls:
            values = timings[name]
            result = {
                "name": name,
                "target": target if isinstance(target, str) else "selector",
                "p50_ms": round(statistics.median(values), 2),
                "p95_ms": round(percentile(values, 95), 2),
                "max_ms": round(max(values), 2),
                "cpu_p50_ms": round(statistics.median(cpu[name]), 2),
                "cpu_p95_ms": round(percentile(cpu[name], 95), 2),
                "n": len(values),
                "budget_p95_ms": budget_ms(name),
            }
            self.stdout.write(
                f"  {name}: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms "
                f"(CPU of this process p50 {result['cpu_p50_ms']} ms, p95 {result['cpu_p95_ms']} ms)"
            )
            results.append(result)
        return results

    def _report(self, results: list[dict[str, Any]], output: str) -> None:
        admin = next((r for r in results if r["target"] == ADMIN_CHANGELIST), None)
        for r in results:
            r["admin_p95_ratio"] = round(admin["p95_ms"] / r["p95_ms"], 1) if admin and r["p95_ms"] else None
            r["admin_p50_ratio"] = round(admin["p50_ms"] / r["p50_ms"], 1) if admin and r["p50_ms"] else None
        vendor = connection.vendor
        meta = {
            "vendor": vendor,
            "database": str(connection.settings_dict["NAME"]),
            "threads": Thread.objects.count(),
            "messages": Message.objects.count(),
            "runs": Run.objects.count(),
            "usage_rollup_rows": UsageRollup.objects.count(),
            "largest_thread": Thread.objects.order_by("-message_count").values_list("message_count", flat=True).first(),
            "repeat": self.repeat,
            "upkeep": self.upkeep,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        width = max(len(r["name"]) for r in results) if results else 10
        self.stdout.write(
            f"\n{vendor}: {meta['threads']:,} threads, {meta['messages']:,} messages, {meta['runs']:,} runs "
            f"({meta['usage_rollup_rows']:,} rollup rows), {self.repeat} requests each\n"
        )
        # The budget verdict, and how many times faster than the admin changelist at the median (information only).
        self.stdout.write(f"{'case':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'budget':>8}  {'':<6}  {'x admin':>7}")
        for r in results:
            budget, verdict = _verdict(r)
            p50 = f"{r['admin_p50_ratio']}x" if r["admin_p50_ratio"] else "-"
            times = f"{r['p50_ms']:>8.1f}  {r['p95_ms']:>8.1f}"
            self.stdout.write(f"{r['name']:<{width}}  {times}  {budget:>8}  {verdict:<6}  {p50:>7}")
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"bench-{vendor}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
        path.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
        path.with_suffix(".md").write_text(markdown_table(meta, results))
        self.stdout.write(f"\nWrote {path} and {path.with_suffix('.md').name}")


def markdown_table(meta: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table, for docs/benchmarks.md."""
    lines = [
        f"{meta['vendor']}: {meta['threads']:,} threads, {meta['messages']:,} messages, {meta['runs']:,} runs "
        f"(largest thread {meta['largest_thread'] or 0:,}), {meta['repeat']} requests each, {meta['at']}",
        "",
        "| case | p50 ms | p95 ms | p95 budget | | x admin p50 |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for r in results:
        budget, verdict = _verdict(r)
        p50 = f"{r['admin_p50_ratio']}x" if r["admin_p50_ratio"] else "-"
        lines.append(f"| {r['name']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {budget} | {verdict} | {p50} |")
    return "\n".join(lines) + "\n"


def _verdict(result: dict[str, Any]) -> tuple[str, str]:
    budget = result.get("budget_p95_ms")
    if budget is None:
        return "-", ""
    return f"{budget:.0f}", "ok" if result["p95_ms"] < budget else "OVER"
