"""Generate a large, realistic dataset fast: threads, messages (a few of 100,000), runs, flags, usage.

Bulk inserts in batches inside transactions; Thread.message_count, seq and last_activity_at stay consistent, and
the full-text index is maintained by the database (SQLite triggers, the PostgreSQL expression index). Activity
follows office hours and weekdays and grows over the period; runs finish with a realistic mix of statuses,
tokens, latencies and error codes, and are added to the usage rollups as they are written (marked counted).
"""

from __future__ import annotations

import contextlib
import random
import string
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.utils import timezone

from agents_admin.management.commands import _demo_words as words
from agents_admin.models import Agent, Message, Project, Run, RunStatus, Thread, ThreadFlag
from agents_admin.services.thread_titles import thread_titles_refresh
from agents_admin.services.usage import RUN_USAGE_FIELDS, UsageTally

BATCH = 5_000
ALPHABET = string.ascii_letters + string.digits
MODELS = ("gpt-4o-mini", "gpt-4o-mini", "gpt-4o", "offline", "o3-mini")
PRINCIPALS = ("api-key:ak_demo_web", "api-key:ak_demo_web", "api-key:ak_demo_app", "user:admin", "user:operator", "")
# Final statuses of generated runs and their weights; failed runs get one of the error codes.
STATUS_WEIGHTS = (
    (RunStatus.COMPLETED, 0.86),
    (RunStatus.FAILED, 0.06),
    (RunStatus.INCOMPLETE, 0.04),
    (RunStatus.CANCELLED, 0.03),
    (RunStatus.EXPIRED, 0.01),
)
ERROR_CODES = ("rate_limit_exceeded", "rate_limit_exceeded", "server_error", "timeout", "content_filter")


@contextlib.contextmanager
def explicit_timestamps(*fields: models.DateTimeField) -> Iterator[None]:
    """Let bulk_create keep the timestamps we set, instead of auto_now_add's 'now'."""
    saved = [(f, f.auto_now_add) for f in fields]
    for f, _ in saved:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in saved:
            f.auto_now_add = value


class Generator:
    def __init__(self, *, seed: int, out: Any) -> None:
        self.rng = random.Random(seed)
        self.ids = random.Random()  # unseeded: a second run adds new objects instead of colliding
        self.out = out
        self.vocab = words.COMMON * 6 + words.SUPPORT * 2 + words.RARE
        self.weights = [1.0 / (1 + i // 40) for i in range(len(self.vocab))]
        self.cum = list(_accumulate(self.weights))

    def new_id(self, prefix: str) -> str:
        return prefix + "_" + "".join(self.ids.choices(ALPHABET, k=24))

    def sentence(self) -> str:
        n = self.rng.randint(5, 16)
        chosen = self.rng.choices(self.vocab, cum_weights=self.cum, k=n)
        return " ".join(chosen).capitalize() + self.rng.choice(".?.!.")

    def text(self, role: str) -> str:
        opener = self.rng.choice(words.OPENERS if role == "user" else words.ANSWERS)
        count = self.rng.choice((1, 1, 2, 2, 3, 4)) if role == "user" else self.rng.choice((1, 2, 3, 4, 6))
        return opener + " ".join(self.sentence() for _ in range(count))


def _accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


class Command(BaseCommand):
    help = "Generate demo data in bulk: --threads N --messages M [--big-threads K] (a few 100,000-message threads)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threads", type=int, default=1_000)
        parser.add_argument("--messages", type=int, default=10_000)
        parser.add_argument(
            "--big-threads", type=int, default=None, help="threads of --big-size messages (default: a few)"
        )
        parser.add_argument("--big-size", type=int, default=settings.MAX_MESSAGES_PER_THREAD)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--days", type=int, default=90, help="spread activity over this many past days")
        parser.add_argument(
            "--runs", type=int, default=None, help="runs in all, spread over the threads (default: 3 in 10 threads)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        threads, messages, big_size = options["threads"], options["messages"], options["big_size"]
        big = options["big_threads"]
        if big is None:
            big = min(3, int(messages * 0.4) // big_size) if big_size else 0
        if threads < 1 or messages < 0 or big < 0 or big > threads or big * big_size > messages:
            raise CommandError("Need threads >= 1, big-threads <= threads and big-threads x big-size <= messages.")
        if options["runs"] is not None and options["runs"] < 0:
            raise CommandError("--runs must be 0 or more.")
        self.runs_per_thread = None if options["runs"] is None else options["runs"] / threads
        started = time.monotonic()
        gen = Generator(seed=options["seed"], out=self.stdout)
        agents = self._agents(gen)
        projects = self._projects()
        counts = self._message_counts(gen, threads, messages - big * big_size, big, big_size)
        with explicit_timestamps(
            Thread._meta.get_field("created_at"),  # type: ignore[arg-type]
            Thread._meta.get_field("last_activity_at"),  # type: ignore[arg-type]
            Message._meta.get_field("created_at"),  # type: ignore[arg-type]
            Run._meta.get_field("created_at"),  # type: ignore[arg-type]
            ThreadFlag._meta.get_field("created_at"),  # type: ignore[arg-type]
        ):
            written, runs = self._write(gen, counts, agents, projects, options["days"])
        # Titles as services.threads keeps them, in one statement for the whole load.
        thread_titles_refresh(Thread.objects.filter(title__isnull=True))
        # Fresh statistics after a bulk load, so the planner knows e.g. that a run status is not selective.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Generated {threads} threads ({big} of {big_size} messages), {written} messages and {runs} runs "
            f"in {elapsed:.1f}s ({written / max(elapsed, 0.001):,.0f} messages/s)."
        )

    def _agents(self, gen: Generator) -> list[Agent]:
        project = Project.objects.get_or_create(name=Project.DEFAULT_NAME)[0]
        names = ["Support", "Billing", "Shipping", "Returns", "Tech help", "Travel desk", "Weather", "Triage"]
        # A second load grows the same agents' usage (more runs, not more agents), so usage pages compare at
        # 100k and 1M runs over the same breakdown.
        existing = {a.name: a for a in Agent.objects.filter(project=project, name__in=[f"{n} bot" for n in names])}
        if len(existing) == len(names):
            return [existing[f"{name} bot"] for name in names]
        agents = [
            Agent(
                id=gen.new_id("asst"),
                project=project,
                name=f"{name} bot",
                model=MODELS[i % len(MODELS)],
                instructions="Help.",
            )
            for i, name in enumerate(names)
        ]
        return Agent.objects.bulk_create(agents)

    def _projects(self) -> list[Project]:
        default = Project.objects.get_or_create(name=Project.DEFAULT_NAME)[0]
        extra = [
            Project.objects.get_or_create(name=n, defaults={"display_name": n.title()})[0] for n in ("support", "sales")
        ]
        return [default, default, *extra]

    def _message_counts(self, gen: Generator, threads: int, small_messages: int, big: int, big_size: int) -> list[int]:
        """Messages per thread: ``big`` threads of ``big_size``, the rest spread unevenly (many short, some long)."""
        small = threads - big
        counts = [0] * small
        if small:
            weights = [gen.rng.paretovariate(1.5) for _ in range(small)]
            total = sum(weights)
            counts = [int(w / total * small_messages) for w in weights]
            # Cap at the service's limit and hand the rounding remainder out one by one.
            counts = [min(c, big_size or c) for c in counts]
            remainder = small_messages - sum(counts)
            i = 0
            while remainder > 0:
                if counts[i % small] < (big_size or remainder + 1):
                    counts[i % small] += 1
                    remainder -= 1
                i += 1
        return [big_size] * big + counts

    def _moment(self, rng: random.Random, now: datetime, days: int) -> datetime:
        """A past moment, more likely in office hours (UTC), on weekdays and recently (usage grows)."""
        while True:
            age = rng.uniform(0, days * 86400)
            moment = now - timedelta(seconds=age)
            weight = (0.25 + 0.75 * (8 <= moment.hour < 19)) * (0.4 if moment.weekday() >= 5 else 1.0)
            weight *= 1.0 - 0.5 * age / (days * 86400)
            if rng.random() < weight:
                return moment

    def _runs(self, gen: Generator, thread: Thread, agents: list[Agent], start: datetime, now: datetime) -> list[Run]:
        """The thread's runs: a few minutes apart from its start, each finished with a realistic outcome."""
        rng = gen.rng
        per_thread = self.runs_per_thread
        if per_thread is None:
            count = 1 if rng.random() < 0.3 else 0
        else:
            count = int(per_thread) + (rng.random() < per_thread - int(per_thread))
        runs = []
        agent = rng.choice(agents)
        at = start
        principal = rng.choice(PRINCIPALS)
        for _ in range(count):
            status = rng.choices([s for s, _ in STATUS_WEIGHTS], weights=[w for _, w in STATUS_WEIGHTS])[0]
            latency = timedelta(seconds=min(rng.lognormvariate(0.6, 0.7), 600))
            if at + latency > now:
                break
            answered = status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
            prompt = int(rng.lognormvariate(6.5, 0.8))
            completion = int(rng.lognormvariate(5.3, 0.7)) if answered else 0
            run = Run(
                id=gen.new_id("run"), thread=thread, agent=agent, agent_ref=agent.id, agent_version=1,
                status=status, model=agent.model, principal=principal, usage_counted=True,
                created_at=at, expires_at=at + timedelta(minutes=10), started_at=at,
                completed_at=at + latency if answered else None,
                failed_at=at + latency if status == RunStatus.FAILED else None,
                cancelled_at=at + latency if status == RunStatus.CANCELLED else None,
                last_error={"code": rng.choice(ERROR_CODES), "message": "demo failure"}
                if status == RunStatus.FAILED else None,
                incomplete_details={"reason": "max_completion_tokens"} if status == RunStatus.INCOMPLETE else None,
                prompt_tokens=prompt if status != RunStatus.EXPIRED else None,
                completion_tokens=completion if status != RunStatus.EXPIRED else None,
                total_tokens=prompt + completion if status != RunStatus.EXPIRED else None,
            )  # fmt: skip
            runs.append(run)
            at = at + latency + timedelta(seconds=rng.uniform(20, 900))
        return runs

    def _tally(self, runs: list[Run], project_of: dict[str, int]) -> UsageTally:
        tally = UsageTally()
        for run in runs:
            values = {name: getattr(run, name) for name in RUN_USAGE_FIELDS if "__" not in name}
            values["connection_id"] = None
            values["thread__project_id"] = project_of[run.thread_id]
            tally.add(values)
        return tally

    def _write(
        self, gen: Generator, counts: list[int], agents: list[Agent], projects: list[Project], days: int
    ) -> tuple[int, int]:
        now = timezone.now()
        rng = gen.rng
        written = 0
        runs_written = 0
        pending_messages: list[Message] = []
        # Threads are written oldest first, so each batch's runs fall in a narrow stretch of time and its usage
        # rollups meet few existing rows (random times would make every batch touch every bucket of the period).
        moments = sorted(self._moment(rng, now, days) for _ in counts)
        for start in range(0, len(counts), BATCH):
            chunk = counts[start : start + BATCH]
            threads: list[Thread] = []
            runs: list[Run] = []
            flags: list[ThreadFlag] = []
            plans: list[tuple[Thread, int, datetime, float, Run | None]] = []
            for offset, count in enumerate(chunk):
                created = moments[start + offset]
                # Big threads tick every second; others every 5 s to 20 min, so they end before now.
                step = 1.0 if count >= 10_000 else rng.uniform(5, 1200)
                last = min(created + timedelta(seconds=step * max(count - 1, 0)), now)
                thread = Thread(
                    id=gen.new_id("thread"),
                    project=rng.choice(projects),
                    metadata={
                        "customer": f"cust-{rng.randint(1, 5000)}",
                        "channel": rng.choice(("web", "email", "app")),
                    },
                    created_at=created,
                    last_activity_at=last,
                    message_count=count,
                )
                run = None
                thread_runs = self._runs(gen, thread, agents, created, now)
                if thread_runs:
                    run = thread_runs[-1]
                    thread.last_agent = run.agent
                    thread.last_run_status = run.status
                    thread.has_failed_run = any(r.status == RunStatus.FAILED for r in thread_runs)
                    thread.last_activity_at = max(last, run.created_at)
                    runs.extend(thread_runs)
                roll = rng.random()
                if roll < 0.02:
                    name = ThreadFlag.STANDARD[int(roll * 150) % 3]
                    flags.append(ThreadFlag(thread=thread, name=name, created_at=last))
                    setattr(thread, ThreadFlag.THREAD_FIELDS[name], True)
                threads.append(thread)
                plans.append((thread, count, created, step, run))
            with transaction.atomic():
                Thread.objects.bulk_create(threads, batch_size=BATCH)
                Run.objects.bulk_create(runs, batch_size=BATCH)
                ThreadFlag.objects.bulk_create(flags, batch_size=BATCH)
                self._tally(runs, {t.id: t.project_id for t in threads}).write_bulk()
            runs_written += len(runs)
            for thread, count, created, step, run in plans:
                for seq in range(1, count + 1):
                    role = "user" if seq % 2 else "assistant"
                    text = gen.text(role)
                    pending_messages.append(
                        Message(
                            id=gen.new_id("msg"), thread=thread, seq=seq, role=role, text=text,
                            content=[{"type": "text", "text": {"value": text, "annotations": []}}],
                            agent=thread.last_agent if role == "assistant" else None,
                            # The thread's one run wrote its last reply, as the run engine would have.
                            run=run if role == "assistant" and seq >= count - 1 else None,
                            created_at=min(created + timedelta(seconds=step * (seq - 1)), now),
                        )
                    )  # fmt: skip
                    if len(pending_messages) >= BATCH:
                        written += self._flush(pending_messages)
            self.stdout.write(f"  {min(start + BATCH, len(counts))} threads, {written} messages, {runs_written} runs")
        written += self._flush(pending_messages)
        return written, runs_written

    def _flush(self, pending: list[Message]) -> int:
        if not pending:
            return 0
        with transaction.atomic():
            Message.objects.bulk_create(pending, batch_size=BATCH)
        count = len(pending)
        pending.clear()
        return count
