"""Retention: policies, holds and purge reports."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents_admin.models.agents import Agent


class RetentionPolicy(models.Model):
    """Which threads to purge (scope + age), what to do with them, and when.

    A policy without a project is the instance-wide default. A project policy may only be stricter than the
    default (its effective age is the smaller of the two) unless an administrator set ``allow_less_strict``;
    see services/retention.py and the README.
    """

    class Criterion(models.TextChoices):
        INACTIVE_DAYS = "inactive_days", "Inactive for N days (since last activity)"
        CREATED_DAYS = "created_days", "Created more than N days ago"

    class Action(models.TextChoices):
        DELETE = "delete", "Delete the thread (messages, runs, steps, files)"
        TRIM = "trim", "Trim: keep only the newest messages"

    class Schedule(models.TextChoices):
        DAILY = "daily", "Daily at a time (UTC)"
        INTERVAL = "interval", "Every N hours"

    class Target(models.TextChoices):
        THREADS = "threads", "Threads"
        VECTOR_STORES = "vector_stores", "Vector stores (file search indexes)"

    name = models.CharField(max_length=200)
    # What the policy purges: threads, or vector stores (idle for N days, or past their own expires_after).
    target = models.CharField(max_length=16, choices=Target.choices, default=Target.THREADS)
    project = models.ForeignKey("Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Optional narrowing: threads whose latest run used one of these agents.
    agents = models.ManyToManyField(Agent, blank=True, related_name="+")
    # Optional narrowing: threads whose metadata has this key with exactly this value.
    metadata_key = models.CharField(max_length=64, blank=True)
    metadata_value = models.CharField(max_length=512, blank=True)
    criterion = models.CharField(max_length=16, choices=Criterion.choices, default=Criterion.INACTIVE_DAYS)
    days = models.PositiveIntegerField(default=90)
    # Trim only: how many of the newest messages (by seq) each thread keeps.
    keep_last_messages = models.PositiveIntegerField(null=True, blank=True)
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.DELETE)
    schedule = models.CharField(max_length=8, choices=Schedule.choices, default=Schedule.DAILY)
    daily_at = models.TimeField(null=True, blank=True)
    every_hours = models.PositiveSmallIntegerField(null=True, blank=True)
    # Set only by an administrator: lets a project policy keep threads longer than the default would.
    allow_less_strict = models.BooleanField(default=False)
    # A policy starts disabled: it runs on schedule only once a dry run has shown what it selects.
    enabled = models.BooleanField(default=False)
    # When what the policy selects last changed: dry runs from before then no longer vouch for it.
    selection_changed_at = models.DateTimeField(null=True, blank=True)
    # The beat sweep runs a policy when this is due and moves it forward with a conditional update.
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="retention_due")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_default(self) -> bool:
        return self.project_id is None


class ThreadHold(models.Model):
    """A legal or support hold: while active (not released, not expired) no purge path touches the thread."""

    # PROTECT: deleting a thread that still has hold rows fails (the ORM raises ProtectedError; a raw DELETE meets
    # the foreign key). Purges remove a thread's released and expired holds first, so an active one always blocks.
    thread = models.ForeignKey("Thread", on_delete=models.PROTECT, related_name="holds")
    reason = models.CharField(max_length=500)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    placed_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-placed_at", "-id"]
        indexes = [
            # The purge selector's "has an active hold" subquery and the active-holds page.
            models.Index(fields=["thread"], condition=Q(released_at__isnull=True), name="threadhold_open"),
            models.Index(fields=["-placed_at", "-id"], name="threadhold_placed"),
        ]

    def __str__(self) -> str:
        return f"hold on {self.thread_id}"

    def is_active_at(self, now: datetime) -> bool:
        return self.released_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def is_active(self) -> bool:
        return self.is_active_at(timezone.now())


class PurgeReport(models.Model):
    """What one retention run did (or, dry, would do): ids and counts only, never content."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        MANUAL = "manual"
        COMMAND = "command"
        API = "api"
        CONSOLE_DELETE = "console-delete"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        STOPPED = "stopped"
        FAILED = "failed"

    policy = models.ForeignKey(RetentionPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Kept so the report still says which policy it was after the policy is deleted.
    policy_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=8, default=RetentionPolicy.Action.DELETE)
    target = models.CharField(
        max_length=16, choices=RetentionPolicy.Target.choices, default=RetentionPolicy.Target.THREADS
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    # Checked between batches; set by the Stop button.
    stop_requested = models.BooleanField(default=False)
    # Written at the claim and after every batch: a running report whose worker died goes stale and is taken over.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    # Threads older than this are candidates; fixed at the first start so a resumed run picks the same set.
    cutoff = models.DateTimeField(null=True, blank=True)
    threads = models.PositiveIntegerField(default=0)
    messages = models.PositiveBigIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)
    steps = models.PositiveBigIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    # A vector-store policy's counts: stores, their indexed chunks and bytes of text (``files``: their file entries).
    vector_stores = models.PositiveIntegerField(default=0)
    chunks = models.PositiveBigIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    skipped_held = models.PositiveIntegerField(default=0)
    skipped_active = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    # Keyset position of the last finished batch: {"ts": iso datetime, "id": thread id}.
    cursor = models.JSONField(null=True, blank=True)
    total_candidates = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    oldest_at = models.DateTimeField(null=True, blank=True)
    newest_at = models.DateTimeField(null=True, blank=True)
    # The first few affected thread ids (ids only).
    sample = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["-started_at", "-id"], name="purgereport_started"),
            models.Index(fields=["policy", "-started_at"], name="purgereport_policy"),
        ]

    def __str__(self) -> str:
        return f"purge report {self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.COMPLETED, self.Status.STOPPED, self.Status.FAILED)

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.COMPLETED:
            return 100
        if not self.total_candidates:
            return 0
        return min(100, int(self.processed * 100 / self.total_candidates))


class ThreadTombstone(models.Model):
    """That a thread was deleted: when, how, by whom or by which policy, and which purge report recorded it.

    Ids and names only, never conversation content, so it outlives retention: the thread's URL answers 410 Gone
    with this for those who may read purge reports. Every delete path writes it (``services.retention``'s
    ``threads_delete``, one INSERT per batch); kept ``THREAD_TOMBSTONE_DAYS``, then pruned by the hourly upkeep.
    """

    class How(models.TextChoices):
        POLICY = "policy", "retention policy"
        CONSOLE = "console", "console"
        API = "api", "API"

    # Not foreign keys: the thread is gone, and the project or report may go later; the ids still say what was.
    thread_id = models.CharField(primary_key=True, max_length=40)
    project_id = models.IntegerField(null=True, blank=True)
    deleted_at = models.DateTimeField()
    how = models.CharField(max_length=8, choices=How.choices)
    # The policy's name, the person's username, or the API key's label (``api-key:<prefix>``).
    by = models.CharField(max_length=200, blank=True)
    report_id = models.IntegerField(null=True, blank=True)

    class Meta:
        # The upkeep's prune walks the oldest first.
        indexes = [models.Index(fields=["deleted_at"], name="tombstone_deleted_at")]

    def __str__(self) -> str:
        return f"tombstone of {self.thread_id}"
