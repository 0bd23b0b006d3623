"""The console's new-vector-store form: a project, a name, the project's files to index, and an expiry."""

from __future__ import annotations

from typing import Any

from django import forms

from agents_admin.models import File, Project

# Files offered in the form: the newest of those uploaded for assistants (more go through the API).
MAX_FILE_CHOICES = 200


class VectorStoreForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("name"))
    name = forms.CharField(max_length=256, required=False)
    files = forms.MultipleChoiceField(
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Files of the project uploaded for assistants (the newest 200); each is indexed by a worker.",
    )
    expires_days = forms.IntegerField(
        min_value=1,
        max_value=365,
        required=False,
        label="Expires after idle days",
        help_text="Empty: never. The store expires this many days after it was last searched.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        newest = File.objects.filter(purpose="assistants").select_related("project").order_by("-created_at")
        self.fields["files"].choices = [
            (f.id, f"{f.filename} · {f.project} · {f.id}")
            for f in newest.only("id", "filename", "project__name", "project__display_name")[:MAX_FILE_CHOICES]
        ]
