"""Usage rollups (runs, tokens, latency, tool calls, error codes per hour and per day) and the model price table.

Rollups are counters, keyed by plain ids and names instead of foreign keys: they hold no conversation content and
outlive the threads, runs, agents and projects they count, so a retention purge leaves usage history whole.
"""

from __future__ import annotations

from django.db import models

# Upper bounds (milliseconds) of the latency histogram's buckets; the last bucket takes everything slower.
LATENCY_BOUNDS_MS = (250, 500, 1_000, 2_000, 4_000, 8_000, 15_000, 30_000, 60_000, 120_000, 300_000)
LATENCY_FIELDS = tuple(f"latency_b{i:02d}" for i in range(len(LATENCY_BOUNDS_MS) + 1))
# A rollup row's key: the period and the start of its bucket, then the dimensions usage is broken down by.
DIMENSIONS = ("project_ref", "agent_ref", "model", "connection_ref", "principal")
# The daily summary rows keep these and leave connection and principal blank: the usual view (all keys and users,
# broken down by agent, project or model) reads several times fewer rows than from the full daily rows.
SUMMARY_DIMENSIONS = ("project_ref", "agent_ref", "model")
KEY_FIELDS = ("period", "bucket", *DIMENSIONS)
STATUS_FIELDS = {
    "completed": "runs_completed",
    "failed": "runs_failed",
    "cancelled": "runs_cancelled",
    "expired": "runs_expired",
    "incomplete": "runs_incomplete",
}
COUNTER_FIELDS = (
    *STATUS_FIELDS.values(),
    "prompt_tokens",
    "completion_tokens",
    "tool_calls",
    "latency_count",
    "latency_ms_sum",
    *LATENCY_FIELDS,
)


class UsagePeriod(models.TextChoices):
    HOUR = "hour"
    DAY = "day"
    # A day per project, agent and model (connection and principal blank): the same counts as the "day" rows,
    # summed over connections and principals.
    DAY_SUMMARY = "dsum", "Day summary"


class UsageKey(models.Model):
    """The shared key of the two rollup tables."""

    period = models.CharField(max_length=4, choices=UsagePeriod.choices)
    bucket = models.DateTimeField(help_text="Start of the hour or day (UTC) the runs were created in.")
    project_ref = models.CharField(max_length=40)
    agent_ref = models.CharField(max_length=40)
    model = models.CharField(max_length=256)
    connection_ref = models.CharField(max_length=40, blank=True)
    # Who started the runs: "api-key:<prefix>", "user:<id>", or "" (the system, a remote project).
    principal = models.CharField(max_length=150, blank=True)

    class Meta:
        abstract = True


class UsageRollup(UsageKey):
    runs_completed = models.PositiveIntegerField(default=0)
    runs_failed = models.PositiveIntegerField(default=0)
    runs_cancelled = models.PositiveIntegerField(default=0)
    runs_expired = models.PositiveIntegerField(default=0)
    runs_incomplete = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    tool_calls = models.PositiveIntegerField(default=0)
    # Latency of the runs the model answered (completed, incomplete): creation to final status.
    latency_count = models.PositiveIntegerField(default=0)
    latency_ms_sum = models.BigIntegerField(default=0)
    latency_b00 = models.PositiveIntegerField(default=0)
    latency_b01 = models.PositiveIntegerField(default=0)
    latency_b02 = models.PositiveIntegerField(default=0)
    latency_b03 = models.PositiveIntegerField(default=0)
    latency_b04 = models.PositiveIntegerField(default=0)
    latency_b05 = models.PositiveIntegerField(default=0)
    latency_b06 = models.PositiveIntegerField(default=0)
    latency_b07 = models.PositiveIntegerField(default=0)
    latency_b08 = models.PositiveIntegerField(default=0)
    latency_b09 = models.PositiveIntegerField(default=0)
    latency_b10 = models.PositiveIntegerField(default=0)
    latency_b11 = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=list(KEY_FIELDS), name="usage_rollup_key")]
        indexes = [
            models.Index(fields=["period", "bucket"], name="usage_period_bucket"),
            models.Index(fields=["period", "agent_ref", "bucket"], name="usage_period_agent"),
            models.Index(fields=["period", "project_ref", "bucket"], name="usage_period_project"),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.bucket:%Y-%m-%d %H:%M} {self.agent_ref} {self.model}"


class UsageErrorCount(UsageKey):
    """Failed runs by error code, with the same key as the rollups."""

    code = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=[*KEY_FIELDS, "code"], name="usage_error_key")]
        indexes = [
            # The top error codes of a range (all, or one project, agent or model) read from the index alone: a
            # day's rows are scattered among the hourly rows, and at 1M runs there are about a hundred a day.
            models.Index(
                fields=["period", "bucket", "code", "count", "project_ref", "agent_ref", "model"],
                name="usage_error_codes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.bucket:%Y-%m-%d %H:%M} {self.code} x{self.count}"


class ModelPrice(models.Model):
    """What a model's tokens cost from a day on (UTC), until the next price of the same model takes over: usage
    is priced by the price in force on the day its runs were created, so a new price never rewrites the past."""

    model = models.CharField(max_length=256, help_text="The model name as runs record it (e.g. gpt-4o-mini).")
    effective_from = models.DateField(help_text="First day (UTC) this price applies to.")
    input_per_million = models.DecimalField(
        max_digits=12, decimal_places=4, help_text="Price of 1,000,000 prompt tokens."
    )
    output_per_million = models.DecimalField(
        max_digits=12, decimal_places=4, help_text="Price of 1,000,000 completion tokens."
    )
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code, e.g. USD or EUR.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-effective_from"]
        constraints = [models.UniqueConstraint(fields=["model", "effective_from"], name="model_price_unique_day")]

    def __str__(self) -> str:
        prices = f"{self.input_per_million}/{self.output_per_million} {self.currency}"
        return f"{self.model} from {self.effective_from}: {prices}"
