"""Reads of usage: series over time, breakdowns, error codes and cost, all from the rollups (never the runs).

Ranges up to 7 days sum hourly rows, longer ones daily rows, so a page reads at most a few hundred buckets
whatever the number of runs behind them; a daily view that neither filters nor breaks down by connection or
principal reads the daily summary rows (per project, agent and model), several times fewer. Prices are applied
per model and day at read time, each day at the price in force then.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.utils import timezone

from agents_admin.ids import small_int
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    Agent,
    ModelConnection,
    ModelPrice,
    Project,
    Run,
    RunStatus,
    UsageErrorCount,
    UsagePeriod,
    UsageRollup,
)
from agents_admin.models.usage import COUNTER_FIELDS, LATENCY_BOUNDS_MS, LATENCY_FIELDS, STATUS_FIELDS

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
# Longest span summed from hourly rows; anything longer reads daily rows.
HOURLY_UP_TO = timedelta(days=7)
# Breakdown dimensions: URL name -> rollup column.
DIMENSION_COLUMNS = {
    "project": "project_ref",
    "agent": "agent_ref",
    "model": "model",
    "connection": "connection_ref",
    "principal": "principal",
}
# Dimensions the daily summary rows keep (URL names).
SUMMARY_DIMENSIONS = {"project", "agent", "model"}
BREAKDOWN_LIMIT = 20
TOP_ERRORS = 10


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class UsageFilters:
    """A usage query: the buckets ``[start, end)`` of ``period``, and equality filters on the dimensions."""

    start: datetime
    end: datetime
    period: str
    range_name: str = "24h"
    dims: dict[str, str] = field(default_factory=dict)  # URL name -> value
    by: str = "agent"

    @classmethod
    def for_range(cls, name: str, *, now: datetime | None = None, **extra: Any) -> UsageFilters:
        """The last 24 hours / 7, 30 or 90 days, ending with the current hour (or day)."""
        now = now or timezone.now()
        span = RANGES[name]
        if span <= HOURLY_UP_TO:
            end = hour_floor(now) + timedelta(hours=1)
            return cls(start=end - span, end=end, period=UsagePeriod.HOUR, range_name=name, **extra)
        end = hour_floor(now).replace(hour=0) + timedelta(days=1)
        return cls(start=end - span, end=end, period=UsagePeriod.DAY, range_name=name, **extra)

    @classmethod
    def for_days(cls, first: date, last: date, **extra: Any) -> UsageFilters:
        """Whole UTC days from ``first`` to ``last`` inclusive."""
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
        period = UsagePeriod.HOUR if end - start <= HOURLY_UP_TO else UsagePeriod.DAY
        return cls(start=start, end=end, period=period, range_name="custom", **extra)

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.period == UsagePeriod.HOUR else timedelta(days=1)

    def buckets(self) -> list[datetime]:
        count = int((self.end - self.start) / self.step)
        return [self.start + i * self.step for i in range(count)]

    @property
    def read_period(self) -> str:
        """The rows to read: a daily view that needs no connection or principal reads the summary rows."""
        if self.period == UsagePeriod.DAY and self.by in SUMMARY_DIMENSIONS and set(self.dims) <= SUMMARY_DIMENSIONS:
            return UsagePeriod.DAY_SUMMARY
        return self.period

    def rollups(self) -> Any:
        rows = UsageRollup.objects.filter(period=self.read_period, bucket__gte=self.start, bucket__lt=self.end)
        return rows.filter(**{DIMENSION_COLUMNS[name]: value for name, value in self.dims.items()})

    def errors(self) -> Any:
        rows = UsageErrorCount.objects.filter(period=self.read_period, bucket__gte=self.start, bucket__lt=self.end)
        return rows.filter(**{DIMENSION_COLUMNS[name]: value for name, value in self.dims.items()})


def latency_percentile(histogram: list[int], pct: float) -> int | None:
    """The upper bound (ms) of the histogram bucket holding the ``pct`` percentile; None without data. The last
    bucket has no bound: it reads as the slowest bound, marked by the caller as "over"."""
    total = sum(histogram)
    if not total:
        return None
    rank = pct / 100 * total
    running = 0
    for index, count in enumerate(histogram):
        running += count
        if running >= rank:
            return LATENCY_BOUNDS_MS[min(index, len(LATENCY_BOUNDS_MS) - 1)]
    return LATENCY_BOUNDS_MS[-1]


@dataclass
class Totals:
    """Counters of some runs, with what is derived from them."""

    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_FIELDS, 0))
    cost: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount
    unpriced_tokens: int = 0

    def add_sums(self, sums: list[int | None]) -> None:
        """Add one row of sums, in COUNTER_FIELDS order."""
        counters = self.counters
        for name, value in zip(COUNTER_FIELDS, sums, strict=True):
            if value:
                counters[name] += value

    @property
    def by_status(self) -> dict[str, int]:
        return {status: self.counters[column] for status, column in STATUS_FIELDS.items()}

    @property
    def runs(self) -> int:
        return sum(self.by_status.values())

    @property
    def error_rate(self) -> float | None:
        return self.counters["runs_failed"] / self.runs if self.runs else None

    @property
    def histogram(self) -> list[int]:
        return [self.counters[name] for name in LATENCY_FIELDS]

    @property
    def p50_ms(self) -> int | None:
        return latency_percentile(self.histogram, 50)

    @property
    def p95_ms(self) -> int | None:
        return latency_percentile(self.histogram, 95)

    @property
    def mean_ms(self) -> int | None:
        count = self.counters["latency_count"]
        return round(self.counters["latency_ms_sum"] / count) if count else None


class PriceBook:
    """Every price, by model, in effective order: ``price(model, day)`` is the one in force that day."""

    def __init__(self) -> None:
        self.by_model: dict[str, list[ModelPrice]] = defaultdict(list)
        for price in ModelPrice.objects.order_by("model", "effective_from"):
            self.by_model[price.model].append(price)
        self.days = {model: [p.effective_from for p in prices] for model, prices in self.by_model.items()}

    def price(self, model: str, day: date) -> ModelPrice | None:
        index = bisect.bisect_right(self.days.get(model, []), day) - 1
        return self.by_model[model][index] if index >= 0 else None

    def charge(self, totals: Totals, *, model: str, day: date, prompt: int, completion: int) -> None:
        price = self.price(model, day)
        if price is None:
            totals.unpriced_tokens += prompt + completion
            return
        amount = (price.input_per_million * prompt + price.output_per_million * completion) / 1_000_000
        totals.cost[price.currency] = totals.cost.get(price.currency, Decimal(0)) + amount


def run_cost(run: Run) -> tuple[Decimal, str] | None:
    """What one run cost, at the price of its model on the day it was created; None when unpriced."""
    if run.prompt_tokens is None and run.completion_tokens is None:
        return None
    day = run.created_at.astimezone(UTC).date()
    price = ModelPrice.objects.filter(model=run.model, effective_from__lte=day).order_by("-effective_from").first()
    if price is None:
        return None
    amount = (
        price.input_per_million * (run.prompt_tokens or 0) + price.output_per_million * (run.completion_tokens or 0)
    ) / 1_000_000
    return amount, price.currency


_SUMS = {f"{name}_sum": Sum(name) for name in COUNTER_FIELDS}
_PROMPT, _COMPLETION = COUNTER_FIELDS.index("prompt_tokens"), COUNTER_FIELDS.index("completion_tokens")


@dataclass
class UsageReport:
    filters: UsageFilters
    buckets: list[datetime]
    points: list[Totals]
    totals: Totals
    breakdown: list[tuple[str, str, Totals]]  # (value, label, totals)
    errors: list[tuple[str, int]]
    currencies: list[str]
    labels: dict[str, dict[str, str]]


def usage_report(filters: UsageFilters, *, details: bool = True) -> UsageReport:
    """Everything the usage page shows: the prices, then queries on the rollups (the series and cost; with
    ``details`` also the breakdown, its cost, the top error codes and the names of what the breakdown lists)."""
    book = PriceBook()
    buckets = filters.buckets()
    index = {bucket: i for i, bucket in enumerate(buckets)}
    points = [Totals() for _ in buckets]
    totals = Totals()
    rows = filters.rollups().order_by()
    for bucket, model, *sums in rows.values_list("bucket", "model").annotate(**_SUMS):
        i = index.get(bucket)
        if i is None:
            continue
        for target in (points[i], totals):
            target.add_sums(sums)
            book.charge(target, model=model, day=bucket.date(), prompt=sums[_PROMPT], completion=sums[_COMPLETION])
    currencies = sorted(set(totals.cost))
    if not details:
        return UsageReport(filters, buckets, points, totals, breakdown=[], errors=[], currencies=currencies, labels={})
    column = DIMENSION_COLUMNS[filters.by]
    grouped: dict[str, Totals] = defaultdict(Totals)
    for value, *sums in rows.values_list(column).annotate(**_SUMS):
        grouped[value].add_sums(sums)
    if book.by_model:
        # A price applies per model and day, so the breakdown's cost needs its tokens by model and day too.
        tokens = rows.values_list(column, "model", "bucket").annotate(Sum("prompt_tokens"), Sum("completion_tokens"))
        for value, model, bucket, prompt, completion in tokens:
            book.charge(grouped[value], model=model, day=bucket.date(), prompt=prompt or 0, completion=completion or 0)
    ranked = sorted(grouped.items(), key=lambda item: (-item[1].runs, item[0]))[:BREAKDOWN_LIMIT]
    by_code = filters.errors().values("code").annotate(n=Sum("count")).order_by("-n", "code")
    errors = list(by_code.values_list("code", "n")[:TOP_ERRORS])
    labels = dimension_labels({filters.by: [value for value, _ in ranked], **{k: [v] for k, v in filters.dims.items()}})
    return UsageReport(
        filters=filters,
        buckets=buckets,
        points=points,
        totals=totals,
        breakdown=[(value, labels.get(filters.by, {}).get(value, value or "—"), t) for value, t in ranked],
        errors=errors,
        currencies=currencies,
        labels=labels,
    )


def dimension_labels(values: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """Readable names for dimension values: agents and projects by name (a deleted one keeps its id)."""
    labels: dict[str, dict[str, str]] = {}
    if values.get("agent"):
        agents = Agent.objects.filter(pk__in=values["agent"]).values_list("id", "name")
        labels["agent"] = dict(agents)
    project_ids = [n for n in map(small_int, values.get("project", [])) if n is not None]
    if project_ids:
        projects = Project.objects.filter(pk__in=project_ids).values_list("id", "name")
        labels["project"] = {str(pk): name for pk, name in projects}
    connection_ids = [n for n in map(small_int, values.get("connection", [])) if n is not None]
    if connection_ids:
        connections = ModelConnection.objects.filter(pk__in=connection_ids).values_list("id", "name")
        labels["connection"] = {str(pk): name for pk, name in connections}
    return labels


CHOICES_CACHE_KEY = "usage:dimension-choices"
# The beat refreshes the choices every minute (tasks.usage_choices_refresh); they are kept longer, so a page never
# waits for the scan while the beat runs, and fill the cache themselves when it is empty.
CHOICES_CACHE_SECONDS = 15 * 60


def dimension_choices() -> dict[str, list[tuple[str, str]]]:
    """Values to filter by: the current projects, agents and connections, and the models and principals the
    rollups of the last 90 days name. Read from the cache, which the beat refreshes: the scan of 90 days of rows
    made the one page a minute that ran it take about 260 ms on SQLite."""
    choices = cache.get(CHOICES_CACHE_KEY)
    return choices if choices is not None else dimension_choices_refresh()


def dimension_choices_refresh() -> dict[str, list[tuple[str, str]]]:
    """Read the filter choices and keep them in the cache for the pages."""
    choices = _dimension_choices()
    cache.set(CHOICES_CACHE_KEY, choices, CHOICES_CACHE_SECONDS)
    return choices


def _dimension_choices() -> dict[str, list[tuple[str, str]]]:
    since = hour_floor(timezone.now()) - timedelta(days=90)
    recent = UsageRollup.objects.filter(period=UsagePeriod.DAY, bucket__gte=since)
    # Models from the day summary rows (several times fewer); principals only the full day rows have.
    models = UsageRollup.objects.filter(period=UsagePeriod.DAY_SUMMARY, bucket__gte=since)
    return {
        "project": [(str(pk), name) for pk, name in Project.objects.order_by("name").values_list("id", "name")],
        # An agent is named with its project: two projects may each have a "support" agent.
        "agent": [
            (pk, f"{name} ({project})")
            for pk, name, project in Agent.objects.order_by("name").values_list("id", "name", "project__name")[:500]
        ],
        "model": [(m, m) for m in models.values_list("model", flat=True).distinct().order_by("model")[:200]],
        "connection": [
            (str(pk), name) for pk, name in ModelConnection.objects.order_by("name").values_list("id", "name")
        ],
        "principal": [
            (p, p or "(none)")
            for p in recent.values_list("principal", flat=True).distinct().order_by("principal")[:200]
        ],
    }


@dataclass(frozen=True)
class UsageGlance:
    """Home's compact usage: the last 24 hours' finished runs (rollups) plus the runs active now."""

    report: UsageReport
    active: dict[str, int]

    @property
    def by_status(self) -> list[tuple[str, int]]:
        finished = self.report.totals.by_status
        return [(s.value, self.active.get(s.value, 0) + finished.get(s.value, 0)) for s in RunStatus]

    @property
    def runs(self) -> int:
        return sum(n for _, n in self.by_status)

    @property
    def active_total(self) -> int:
        return sum(self.active.values())


def usage_glance() -> UsageGlance:
    report = usage_report(UsageFilters.for_range("24h"), details=False)
    active = dict(
        Run.objects.filter(status__in=ACTIVE_RUN_STATUSES).values_list("status").annotate(n=Count("id")).order_by()
    )
    return UsageGlance(report=report, active=active)


def runs_filter(*, start: datetime | None, end: datetime | None, dims: dict[str, str], status: str = "",
                error: str = "") -> Q:  # fmt: skip
    """The runs a usage bucket counted: created in ``[start, end)``, with these dimension values."""
    q = Q()
    if start is not None:
        q &= Q(created_at__gte=start)
    if end is not None:
        q &= Q(created_at__lt=end)
    columns = {"agent": "agent_ref", "model": "model", "principal": "principal"}
    for name, value in dims.items():
        if name == "project":
            q &= Q(thread__project_id=small_int(value))  # not a number: matches nothing (NULL)
        elif name == "connection":
            number = small_int(value)
            q &= Q(connection_id=number) if number is not None else Q(connection__isnull=True)
        elif name in columns:
            q &= Q(**{columns[name]: value})
    if status:
        q &= Q(status=status)
    if error:
        q &= Q(status=RunStatus.FAILED, last_error__code=error)
    return q
