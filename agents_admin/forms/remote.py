"""Forms for remote project connections. The secret is write-only: never rendered back, blank keeps it."""

from __future__ import annotations

from typing import Any

from django import forms

from agents_admin.models import RemoteProject


class RemoteProjectForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        # render_value=False: the stored secret never reaches the page, not even in an error re-render.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Client secret (client secret mode) or API key (API key mode). Write-only; leave blank to keep.",
    )

    class Meta:
        model = RemoteProject
        fields = [
            "name",
            "endpoint",
            "auth_kind",
            "tenant_id",
            "client_id",
            "secret_env",
            "enabled",
            "sync_interval_minutes",
        ]
        help_texts = {
            "endpoint": "https://<resource>.services.ai.azure.com/api/projects/<project>",
            "tenant_id": "Entra tenant (client secret, workload identity).",
            "client_id": "App registration or user-assigned managed identity client id.",
            "secret_env": "Optional: name of an environment variable holding the secret (wins over a stored one).",
            "sync_interval_minutes": "Scheduled sync every N minutes.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["name"].disabled = True  # the local project is named after it

    def clean_sync_interval_minutes(self) -> int:
        value = int(self.cleaned_data["sync_interval_minutes"])
        if value < 5:
            raise forms.ValidationError("At least every 5 minutes.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("auth_kind")
        has_secret = bool(data.get("secret") or data.get("secret_env") or self.instance.secret)
        if kind == RemoteProject.AuthKind.CLIENT_SECRET:
            for name in ("tenant_id", "client_id"):
                if not data.get(name):
                    self.add_error(name, "Required for a client secret credential.")
            if not has_secret:
                self.add_error("secret", "Required for a client secret credential.")
        if kind == RemoteProject.AuthKind.API_KEY and not has_secret:
            self.add_error("secret", "Required in API key mode.")
        return data

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values for the service call (the secret separately, by keyword)."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.cleaned_data}
