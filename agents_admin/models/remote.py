"""Remote Foundry projects and their sync records."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RemoteProject(models.Model):
    """A connection to a project on Azure AI Foundry Agent Service (or another server of the same contract).

    Its agents, threads, messages, runs and steps are mirrored into ``project`` (a local namespace created with
    the connection), each row keeping ``remote_project`` and ``remote_id``. ``secret`` is write-only: forms
    never render it and nothing logs it, and it is stored sealed (agents_admin.lib.sealed); ``secret_env`` names an
    environment variable to read it from instead.
    """

    class AuthKind(models.TextChoices):
        DEFAULT = "default", "DefaultAzureCredential (environment, workload or managed identity, Azure CLI)"
        CLIENT_SECRET = "client_secret", "Service principal with a client secret"
        MANAGED_IDENTITY = "managed_identity", "Managed identity"
        WORKLOAD_IDENTITY = "workload_identity", "Workload identity (federated token file)"
        API_KEY = "api_key", "API key (an Agents Admin server)"

    name = models.SlugField(max_length=64, unique=True)
    endpoint = models.URLField(max_length=500)
    auth_kind = models.CharField(max_length=20, choices=AuthKind.choices, default=AuthKind.DEFAULT)
    tenant_id = models.CharField(max_length=100, blank=True)
    client_id = models.CharField(max_length=100, blank=True)
    secret = models.CharField(max_length=2000, blank=True)
    secret_env = models.CharField(max_length=100, blank=True)
    enabled = models.BooleanField(default=True)
    sync_interval_minutes = models.PositiveIntegerField(default=60)
    project = models.OneToOneField("Project", on_delete=models.PROTECT, related_name="remote")
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.secret or self.secret_env)


class SyncRecord(models.Model):
    """One sync of a remote project: what it did (counts per kind), what went wrong, and how far it is."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial"  # finished, but some objects could not be synced (see errors)
        FAILED = "failed"

    class Mode(models.TextChoices):
        INCREMENTAL = "incremental"
        FULL = "full"  # also lists everything to detect deletions on the remote

    ACTIVE = ("queued", "running")

    remote_project = models.ForeignKey(RemoteProject, on_delete=models.CASCADE, related_name="syncs")
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.INCREMENTAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written with every progress update; a running sync silent for long lost its worker (remote_syncs_due).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # {"agents": {"created": n, "updated": n, "deleted": n, "unchanged": n}, "threads": {...}, ...}
    counts = models.JSONField(default=dict, blank=True)
    # [{"where": "thread thread_x", "error": "..."}], capped so a broken remote cannot grow the row forever.
    errors = models.JSONField(default=list, blank=True)
    phase = models.CharField(max_length=20, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["remote_project", "-created_at"], name="sync_project_created")]
        constraints = [
            # One sync at a time per remote project: two would race on the same mirror rows.
            models.UniqueConstraint(
                fields=["remote_project"], condition=Q(status__in=["queued", "running"]), name="sync_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"sync {self.pk} of {self.remote_project_id}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def duration_seconds(self) -> float | None:
        if not (self.started_at and self.finished_at):
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))
