"""Runs and run steps, and the run state machine's statuses."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents_admin import ids


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    REQUIRES_ACTION = "requires_action"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    EXPIRED = "expired"
    INCOMPLETE = "incomplete"


ACTIVE_RUN_STATUSES = (
    RunStatus.QUEUED,
    RunStatus.IN_PROGRESS,
    RunStatus.REQUIRES_ACTION,
    RunStatus.CANCELLING,
)


TERMINAL_RUN_STATUSES = (
    RunStatus.CANCELLED,
    RunStatus.FAILED,
    RunStatus.COMPLETED,
    RunStatus.EXPIRED,
    RunStatus.INCOMPLETE,
)


class Run(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=ids.new_run_id, editable=False)
    thread = models.ForeignKey("Thread", on_delete=models.CASCADE, related_name="runs")
    agent = models.ForeignKey("Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    # The agent's id and version at creation, kept even if the agent is deleted later.
    agent_ref = models.CharField(max_length=40)
    agent_version = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    # Effective settings for this run (agent's, unless overridden at creation).
    model = models.CharField(max_length=256)
    # The agent's connection when the run was created (empty: resolved from the model name).
    connection = models.ForeignKey(
        "ModelConnection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    instructions = models.TextField(blank=True)
    tools = models.JSONField(default=list, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    top_p = models.FloatField(null=True, blank=True)
    max_prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    max_completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    truncation_strategy = models.JSONField(null=True, blank=True)
    tool_choice = models.JSONField(null=True, blank=True)
    response_format = models.JSONField(null=True, blank=True)
    parallel_tool_calls = models.BooleanField(default=True)
    metadata = models.JSONField(default=dict, blank=True)
    required_action = models.JSONField(null=True, blank=True)
    last_error = models.JSONField(null=True, blank=True)
    incomplete_details = models.JSONField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    # Run-engine bookkeeping: when the task was last sent, when a worker last showed life, how often claimed.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The claim: which worker process holds the run (host, process id, a nonce; services/runs.worker_token). Its
    # lease is heartbeat_at, renewed while the worker lives; a claim whose process is gone is taken over at once.
    claimed_by = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set on objects mirrored from a remote Foundry project: where they live and their id there.
    remote_project = models.ForeignKey(
        "RemoteProject", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    remote_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL = not mirrored)
    # Who started the run, as usage is broken down: "api-key:<prefix>", "user:<id>", or "" (system, remote).
    principal = models.CharField(max_length=150, blank=True, default="")
    # Set in the same transaction that adds the finished run to the usage rollups, so it is counted once.
    usage_counted = models.BooleanField(default=False)
    # A finished turn's trace spans, written with its final status and moved to RunSpan with its usage by the
    # next settle (services/usage.runs_settle), a batch of runs at a time; NULL once moved.
    trace_pending = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["remote_project", "remote_id"],
                condition=Q(remote_project__isnull=False),
                name="run_remote_unique",
            ),
            # One active run per thread, enforced by the database so two requests cannot both win.
            models.UniqueConstraint(
                fields=["thread"],
                condition=Q(status__in=["queued", "in_progress", "requires_action", "cancelling"]),
                name="run_one_active_per_thread",
            ),
        ]
        indexes = [
            models.Index(fields=["thread", "-created_at"], name="run_thread_created"),
            models.Index(fields=["status", "expires_at"], name="run_status_expires"),
            models.Index(fields=["-created_at", "-id"], name="run_created"),
            models.Index(fields=["agent", "-created_at"], name="run_agent_created"),
            # A thread's runs by status: the active-run probes of retention and the remote sync.
            models.Index(fields=["thread", "status"], name="run_thread_status"),
            # The "Needs action" inbox: runs waiting on tool outputs, newest first, without scanning the rest.
            models.Index(
                fields=["-created_at", "-id"],
                condition=Q(status="requires_action"),
                name="run_needs_action",
            ),
            # Finished runs not yet in the usage rollups (mirrored runs, runs older than the rollups): the backfill.
            models.Index(
                fields=["created_at"],
                condition=Q(
                    usage_counted=False, status__in=["cancelled", "failed", "completed", "expired", "incomplete"]
                ),
                name="run_usage_uncounted",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    @property
    def pending_tool_calls(self) -> list[dict[str, object]]:
        if not self.required_action:
            return []
        return list(self.required_action.get("submit_tool_outputs", {}).get("tool_calls", []))


class RunStep(models.Model):
    class Type(models.TextChoices):
        MESSAGE_CREATION = "message_creation"
        TOOL_CALLS = "tool_calls"

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        CANCELLED = "cancelled"
        FAILED = "failed"
        COMPLETED = "completed"
        EXPIRED = "expired"

    id = models.CharField(primary_key=True, max_length=40, default=ids.new_step_id, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    thread = models.ForeignKey("Thread", on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=20, choices=Type.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    step_details = models.JSONField(default=dict)
    last_error = models.JSONField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Settable: a message-creation step is written once, after its message, yet was created before it.
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    # Set on objects mirrored from a remote Foundry project: where they live and their id there.
    remote_project = models.ForeignKey(
        "RemoteProject", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    remote_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL = not mirrored)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["run", "created_at"], name="runstep_run_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["remote_project", "remote_id"],
                condition=Q(remote_project__isnull=False),
                name="runstep_remote_unique",
            )
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def tool_calls(self) -> list[Any]:
        """The step's tool calls, or none when the stored JSON has another shape."""
        details = self.step_details if isinstance(self.step_details, dict) else {}
        calls = details.get("tool_calls")
        return calls if isinstance(calls, list) else []
