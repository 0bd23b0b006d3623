"""The search form: the words to find in messages, within the threads that the shared thread filter selects."""

from __future__ import annotations

from django import forms

from agents_admin.forms.threads import ThreadFilterForm


class SearchForm(ThreadFilterForm):
    """Search words plus the thread filter (see ThreadFilterForm); the words match messages of those threads."""

    q = forms.CharField(label="Search messages", required=False, max_length=500)

    field_order = ["q"]

    @property
    def search_text(self) -> str:
        self.is_valid()
        return str(getattr(self, "cleaned_data", {}).get("q") or "").strip()
