"""The model-connection form. Secrets use password inputs that never render their value back."""

from __future__ import annotations

from typing import Any

from django import forms

from agents_admin.models import ModelConnection, Project


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=100)
    project = forms.ModelChoiceField(
        queryset=Project.objects.order_by("name"), required=False, empty_label="Every project (instance-wide)"
    )
    kind = forms.ChoiceField(choices=ModelConnection.Kind.choices)
    endpoint = forms.CharField(
        max_length=500,
        required=False,
        help_text="Azure: https://<resource>.openai.azure.com · OpenAI-compatible: the base URL, e.g. "
        "http://localhost:11434/v1",
    )
    api_version = forms.CharField(max_length=40, required=False, help_text="Azure only, e.g. 2024-10-21.")
    deployments = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line: model name = deployment (or the server's model name).",
    )
    default_deployment = forms.CharField(
        max_length=256, required=False, help_text="For model names not listed above; empty to serve only those."
    )
    embeddings_deployment = forms.CharField(
        max_length=256,
        required=False,
        label="Embeddings model",
        help_text="For file search: the embeddings model (Azure: its deployment), e.g. text-embedding-3-small. "
        "Vector stores made while one is set rank by meaning and full text together; empty: full text alone.",
    )
    auth = forms.ChoiceField(choices=ModelConnection.Auth.choices)
    api_key = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored key.",
    )
    api_key_env = forms.CharField(
        max_length=100, required=False, help_text="Or: the environment variable that holds the key."
    )
    tenant_id = forms.CharField(max_length=64, required=False)
    client_id = forms.CharField(
        max_length=64, required=False, help_text="Client secret sign-in, or a user-assigned managed identity."
    )
    client_secret = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored secret.",
    )
    client_secret_env = forms.CharField(max_length=100, required=False)
    clear_secrets = forms.BooleanField(required=False, label="Erase the stored key and secret")
    context_window = forms.IntegerField(min_value=256, initial=128_000, help_text="Tokens.")
    read_timeout = forms.FloatField(min_value=0.1, initial=120.0, help_text="Seconds to wait for the model.")
    stream = forms.BooleanField(required=False, initial=True, label="Stream answers")
    vision = forms.BooleanField(
        required=False, initial=True, label="Takes images", help_text="The model accepts image input (vision)."
    )
    is_default = forms.BooleanField(required=False, label="Default connection of its project (or instance)")

    def clean_deployments(self) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["deployments"].splitlines(), start=1):
            if not line.strip():
                continue
            model, sep, deployment = line.partition("=")
            if not sep or not model.strip() or not deployment.strip():
                raise forms.ValidationError(f"Line {number}: write 'model name = deployment'.")
            mapping[model.strip()] = deployment.strip()
        return mapping

    @classmethod
    def initial_for(cls, connection: ModelConnection) -> dict[str, Any]:
        """The form's initial values: everything except the secrets."""
        initial = {name: getattr(connection, name) for name in cls.base_fields if hasattr(connection, name)}
        initial.pop("api_key", None)
        initial.pop("client_secret", None)
        initial["deployments"] = "\n".join(f"{k} = {v}" for k, v in (connection.deployments or {}).items())
        return initial
