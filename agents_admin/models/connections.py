"""Model connections: where a model name is served from, with sealed secrets."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


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
        "Project", null=True, blank=True, on_delete=models.CASCADE, related_name="model_connections"
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
    # Whether the model takes images (vision input); a run with images on a connection that does not fails clearly.
    vision = models.BooleanField(default=True)
    # The embeddings model (OpenAI-compatible) or deployment (Azure) this connection serves for file search;
    # empty: it serves none, and vector stores rank by full text alone.
    embeddings_deployment = models.CharField(max_length=256, blank=True)
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
