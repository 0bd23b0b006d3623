"""State of the service: projects, agents (versioned), threads, messages, runs and run steps.

Ids are public, opaque strings in the Foundry shape, and are the primary keys, so the console, the REST API
and the logs all speak the same ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents_admin import ids


class Project(models.Model):
    """A namespace for agents and threads, like a Foundry project. ``default`` always exists."""

    name = models.SlugField(max_length=64, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    DEFAULT_NAME = "default"

    class Meta:
        # The console's capabilities, granted to role groups by agents_admin.roles (see the permission matrix).
        permissions = [
            ("view_conversations", "Read threads and messages"),
            ("review_conversations", "Add notes and flags, request holds, export"),
            ("view_agent_config", "See agents and their configuration"),
            ("edit_agents", "Create, edit and delete agents"),
            ("operate_runs", "Add messages, start and cancel runs, submit tool outputs"),
            ("delete_threads", "Delete threads"),
            ("manage_retention", "Change retention policies, place and release holds, run purges"),
            ("view_audit", "Read the audit log and purge reports"),
            ("manage_connections", "Manage model connections and remote projects"),
            ("manage_api_keys", "Create and revoke API keys"),
            ("manage_users", "Create, deactivate users and assign roles"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.name


# An agent's definition as the Foundry API knows it: what clients may set and what a version keeps.
AGENT_FIELDS = (
    "name",
    "description",
    "model",
    "instructions",
    "tools",
    "tool_resources",
    "temperature",
    "top_p",
    "response_format",
    "metadata",
)


class Agent(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=ids.new_agent_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=256)
    description = models.CharField(max_length=512, blank=True)
    model = models.CharField(max_length=256)
    instructions = models.TextField(blank=True)
    tools = models.JSONField(default=list, blank=True)
    tool_resources = models.JSONField(null=True, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    top_p = models.FloatField(null=True, blank=True)
    response_format = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The connection runs go to; empty: resolved from the model name (the mapping, then the defaults).
    connection = models.ForeignKey(
        "ModelConnection", null=True, blank=True, on_delete=models.SET_NULL, related_name="agents"
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set on objects mirrored from a remote Foundry project: where they live and their id there.
    remote_project = models.ForeignKey(
        "RemoteProject", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    remote_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL = not mirrored)
    # When a sync found the object gone from the remote (it is kept, marked, never silently dropped).
    remote_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="agent_project_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["remote_project", "remote_id"],
                condition=Q(remote_project__isnull=False),
                name="agent_remote_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name or self.id

    def snapshot(self) -> dict[str, object]:
        """The definition a version keeps: everything that changes what a run does."""
        return {**{name: getattr(self, name) for name in AGENT_FIELDS}, "connection": self.connection_id}

    @property
    def function_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.tools if t.get("type") == "function"]


class AgentVersion(models.Model):
    """An immutable copy of an agent's definition, written on every saved change."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["agent", "version"], name="agentversion_unique")]

    def __str__(self) -> str:
        return f"{self.agent_id} v{self.version}"


class Thread(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=ids.new_thread_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="threads")
    metadata = models.JSONField(default=dict, blank=True)
    tool_resources = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Moves on every message and run; what lists sort by and retention measures inactivity from.
    last_activity_at = models.DateTimeField(auto_now_add=True)
    # Denormalised so lists never COUNT(*) messages; also the next message's sequence number.
    message_count = models.PositiveIntegerField(default=0)
    # The agent of the latest run, for lists and filters without a join over runs.
    last_agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_run_status = models.CharField(max_length=20, blank=True, default="")
    # Whether any run of the thread ever failed: support's "has a failed run" filter as an index lookup instead of
    # an EXISTS probe over runs per thread. Set where a run fails (services.runs, remote mirroring); never cleared,
    # because runs are only ever deleted with their thread.
    has_failed_run = models.BooleanField(default=False)
    # The standard review flags (ThreadFlag.STANDARD), copied from the ThreadFlag rows by services.review so the
    # flag filter is a walk of a small partial index in activity order, not a probe of the flags per thread.
    # Free tags are filtered through their ThreadFlag rows.
    flag_needs_follow_up = models.BooleanField(default=False)
    flag_escalated = models.BooleanField(default=False)
    flag_reviewed = models.BooleanField(default=False)
    # Set on objects mirrored from a remote Foundry project: where they live and their id there.
    remote_project = models.ForeignKey(
        "RemoteProject", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    remote_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL = not mirrored)
    # When a sync found the object gone from the remote (it is kept, marked, never silently dropped).
    remote_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["remote_project", "remote_id"],
                condition=Q(remote_project__isnull=False),
                name="thread_remote_unique",
            )
        ]
        indexes = [
            models.Index(fields=["-last_activity_at", "-id"], name="thread_activity"),
            models.Index(fields=["project", "-last_activity_at", "-id"], name="thread_project_activity"),
            models.Index(fields=["last_agent", "-last_activity_at"], name="thread_agent_activity"),
            models.Index(fields=["last_run_status", "-last_activity_at", "-id"], name="thread_status_activity"),
            # Partial: few threads have a failed run, and an index of only those tells SQLite's planner so (its
            # statistics see a boolean column as two halves).
            models.Index(
                fields=["-last_activity_at", "-id"], condition=Q(has_failed_run=True), name="thread_failed_activity"
            ),
            # The same threads by project (search's "failed run in project X": 1.5 ms instead of reading all 33k
            # threads of the project).
            models.Index(
                fields=["project", "-last_activity_at", "-id"],
                condition=Q(has_failed_run=True),
                name="thread_failed_project",
            ),
            models.Index(
                fields=["-last_activity_at", "-id"],
                condition=Q(flag_needs_follow_up=True),
                name="thread_follow_up_activity",
            ),
            models.Index(
                fields=["-last_activity_at", "-id"], condition=Q(flag_escalated=True), name="thread_escalated_activity"
            ),
            models.Index(
                fields=["-last_activity_at", "-id"], condition=Q(flag_reviewed=True), name="thread_reviewed_activity"
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def metadata_items(self) -> list[tuple[str, Any]]:
        """The metadata's pairs, for templates: ``metadata.items`` there would read a key named "items"."""
        return list(self.metadata.items()) if isinstance(self.metadata, dict) else []


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        INCOMPLETE = "incomplete"
        COMPLETED = "completed"

    id = models.CharField(primary_key=True, max_length=40, default=ids.new_message_id, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    # Position in the thread (1, 2, …): a total order that timestamps cannot give, and the keyset cursor.
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    # Content parts in the API's output shape: [{"type": "text", "text": {"value", "annotations"}}, …].
    content = models.JSONField(default=list)
    # Plain text of all text parts, for display, search and token counting.
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETED)
    incomplete_details = models.JSONField(null=True, blank=True)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Set on objects mirrored from a remote Foundry project: where they live and their id there.
    remote_project = models.ForeignKey(
        "RemoteProject", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    remote_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL = not mirrored)

    class Meta:
        ordering = ["thread", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["thread", "seq"], name="message_thread_seq"),
            models.UniqueConstraint(
                fields=["remote_project", "remote_id"],
                condition=Q(remote_project__isnull=False),
                name="message_remote_unique",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="message_created")]

    def __str__(self) -> str:
        return self.id

    @property
    def parts(self) -> list[Any]:
        """The content parts, or none when the stored JSON is not a list (the page then shows ``text``)."""
        return self.content if isinstance(self.content, list) else []


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
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="runs")
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
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
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set on objects mirrored from a remote Foundry project: where they live and their id there.
    remote_project = models.ForeignKey(
        "RemoteProject", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    remote_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL = not mirrored)

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
            # "Threads with a failed run": an EXISTS probe per thread on (thread, status).
            models.Index(fields=["thread", "status"], name="run_thread_status"),
            # The "Needs action" inbox: runs waiting on tool outputs, newest first, without scanning the rest.
            models.Index(
                fields=["-created_at", "-id"],
                condition=Q(status="requires_action"),
                name="run_needs_action",
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

    @property
    def duration_seconds(self) -> float | None:
        end = self.completed_at or self.failed_at or self.cancelled_at
        if not (self.started_at and end):
            return None
        return (end - self.started_at).total_seconds()


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
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=20, choices=Type.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    step_details = models.JSONField(default=dict)
    last_error = models.JSONField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
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


class AuditEvent(models.Model):
    """One audited action or conversation view. Append-only: the app never updates or deletes these rows."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept even if the user is deleted later, and for non-user actors ("api-key:ak_…", "beat", "cli").
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["action", "-at"], name="audit_action_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
            models.Index(fields=["object_id", "-at"], name="audit_object_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("Audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("Audit events are append-only")


class ModelConnection(models.Model):
    """Where a model name is answered: an Azure OpenAI / Foundry resource, an OpenAI-compatible server, or the
    built-in offline model. ``project`` empty means instance-wide. Secrets are write-only in the console and
    may instead come from an environment variable named here, so they need not live in the database."""

    class Kind(models.TextChoices):
        AZURE_OPENAI = "azure_openai", "Azure OpenAI / Foundry deployment"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible (OpenAI, Ollama, vLLM, LM Studio)"
        OFFLINE = "offline", "Built-in offline model"

    class Auth(models.TextChoices):
        API_KEY = "api_key", "API key"
        ENTRA_DEFAULT = "entra_default", "Microsoft Entra ID (DefaultAzureCredential)"
        ENTRA_CLIENT_SECRET = "entra_client_secret", "Microsoft Entra ID (client secret)"
        MANAGED_IDENTITY = "managed_identity", "Managed identity"
        NONE = "none", "No authentication"

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="model_connections"
    )
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OPENAI_COMPATIBLE)
    # Azure: https://<resource>.openai.azure.com ; OpenAI-compatible: the base URL ending in /v1.
    endpoint = models.CharField(max_length=500, blank=True)
    api_version = models.CharField(max_length=40, blank=True)
    # Model name (as agents write it) -> deployment (Azure) or model name on the server.
    deployments = models.JSONField(default=dict, blank=True)
    # Where a model name that is not in ``deployments`` goes; empty: such names are not served here.
    default_deployment = models.CharField(max_length=256, blank=True)
    auth = models.CharField(max_length=24, choices=Auth.choices, default=Auth.API_KEY)
    # Secrets are stored sealed (agents_admin.lib.sealed), never in clear text.
    api_key = models.CharField(max_length=1000, blank=True)
    api_key_env = models.CharField(max_length=100, blank=True)
    tenant_id = models.CharField(max_length=64, blank=True)
    client_id = models.CharField(max_length=64, blank=True)
    client_secret = models.CharField(max_length=1000, blank=True)
    client_secret_env = models.CharField(max_length=100, blank=True)
    context_window = models.PositiveIntegerField(default=128_000)
    # Seconds to wait for the model's next bytes; local models on a CPU may need more.
    read_timeout = models.FloatField(default=120.0)
    stream = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # At most one default per project, and one instance-wide default (NULLs are distinct in a
            # plain unique constraint, hence the second one).
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(is_default=True, project__isnull=False),
                name="modelconnection_one_default_per_project",
            ),
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True, project__isnull=True),
                name="modelconnection_one_instance_default",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def deployment_for(self, model: str) -> str | None:
        """The deployment (or server-side model name) that answers ``model`` here, or None."""
        mapped = self.deployments.get(model) if isinstance(self.deployments, dict) else None
        return mapped or self.default_deployment or None

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key or self.api_key_env)

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret or self.client_secret_env)


# --- Retention ----------------------------------------------------------------------------------


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

    name = models.CharField(max_length=200)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
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
    enabled = models.BooleanField(default=True)
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

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="holds")
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


# --- Support review: notes, flags and exports (issue 7) ----------------------------------------------------


class ThreadNote(models.Model):
    """An internal note a reviewer leaves on a thread; never shown to the agent or over the API."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["thread", "-created_at"], name="threadnote_thread_created")]

    def __str__(self) -> str:
        return f"note on {self.thread_id}"


class ThreadFlag(models.Model):
    """A flag or free tag on a thread ("needs-follow-up", "escalated", "reviewed", …); one row per (thread, name)."""

    NEEDS_FOLLOW_UP = "needs-follow-up"
    ESCALATED = "escalated"
    REVIEWED = "reviewed"
    STANDARD = (NEEDS_FOLLOW_UP, ESCALATED, REVIEWED)
    # The Thread column that mirrors each standard flag.
    THREAD_FIELDS = {
        NEEDS_FOLLOW_UP: "flag_needs_follow_up",
        ESCALATED: "flag_escalated",
        REVIEWED: "flag_reviewed",
    }

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="flags")
    name = models.SlugField(max_length=40)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["thread", "name"], name="threadflag_unique")]
        # Filtering threads by flag is an EXISTS probe on (name, thread).
        indexes = [models.Index(fields=["name", "thread"], name="threadflag_name_thread")]

    def __str__(self) -> str:
        return f"{self.name} on {self.thread_id}"


class ExportJob(models.Model):
    """A large export written to a file by a worker; the console polls this row for progress.

    queued -> running -> completed -> expired (file deleted after EXPORT_RETENTION_HOURS), or -> failed (an
    error, a worker that stopped beating, or a task the broker lost twice). See services.exports.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        EXPIRED = "expired"

    class Format(models.TextChoices):
        JSONL = "jsonl", "JSON Lines"
        CSV = "csv", "CSV"
        MARKDOWN = "md", "Markdown"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What to export: {"thread_id": …} for one thread, or the thread filters (as the search form's query).
    params = models.JSONField(default=dict)
    format = models.CharField(max_length=8, choices=Format.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    messages_total = models.PositiveIntegerField(default=0)  # an estimate, from Thread.message_count
    messages_done = models.PositiveIntegerField(default=0)
    file_path = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written with each batch of progress: a running job whose heartbeat is old lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set when the reconciler sent the task again because the broker seemed to have lost it (done once only).
    redispatched_at = models.DateTimeField(null=True, blank=True)
    # When the housekeeping sweep deleted the file of this completed job.
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The sweeps look for (completed, finished before a cutoff) and for queued/running jobs.
        indexes = [models.Index(fields=["status", "finished_at"], name="exportjob_status_finished")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.COMPLETED, self.Status.FAILED, self.Status.EXPIRED)

    @property
    def percent(self) -> int:
        if self.status == self.Status.COMPLETED:
            return 100
        if not self.messages_total:
            return 0
        return min(99, self.messages_done * 100 // self.messages_total)


# --- Remote Foundry projects ------------------------------------------------------------------------------


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
    project = models.OneToOneField(Project, on_delete=models.PROTECT, related_name="remote")
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


class ApiKey(models.Model):
    """A project API key for the REST API. Only the SHA-256 of the secret is kept; the key is shown once."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=100, blank=True)
    # The first characters of the key, so a person can tell keys apart without the secret.
    prefix = models.CharField(max_length=16)
    hashed_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.label or 'no label'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class File(models.Model):
    """An uploaded file (message attachments, images); the bytes live in the default storage."""

    class Purpose(models.TextChoices):
        ASSISTANTS = "assistants"
        ASSISTANTS_OUTPUT = "assistants_output"
        VISION = "vision"

    id = models.CharField(primary_key=True, max_length=40, default=ids.new_file_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="files")
    filename = models.CharField(max_length=255)
    bytes = models.PositiveBigIntegerField()
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    content = models.FileField(upload_to="files/%Y/%m/", max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="file_project_created")]

    def __str__(self) -> str:
        return self.filename
