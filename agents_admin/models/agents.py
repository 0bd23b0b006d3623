"""Agents and their versions: every saved change of a definition is kept."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from agents_admin import ids

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
    project = models.ForeignKey("Project", on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=256)
    # The name the v2 protocol addresses the agent by (``/agents/{name}``), unique in the project. Agents made
    # through ``/agents/{name}/versions`` have one from birth; a classic ``asst_`` agent is addressed by its id
    # until it is given one (the migration command proposes names).
    api_name = models.CharField(max_length=63, null=True, blank=True)  # noqa: DJ001 (NULL = none yet)
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
            ),
            models.UniqueConstraint(
                fields=["project", "api_name"], condition=Q(api_name__isnull=False), name="agent_api_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.id

    @property
    def v2_name(self) -> str:
        """How the v2 protocol names this agent: its API name, else its classic id."""
        return self.api_name or self.id

    def snapshot(self) -> dict[str, object]:
        """The definition a version keeps: everything that changes what a run does."""
        return {**{name: getattr(self, name) for name in AGENT_FIELDS}, "connection": self.connection_id}


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
