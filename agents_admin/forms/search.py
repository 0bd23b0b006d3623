"""The search form: the words to find in messages, within the threads that the shared thread filter selects."""

from __future__ import annotations

from django import forms

from agents_admin.forms.threads import ThreadFilterForm

# Longer is not a search someone typed, and every word costs the full-text engine: refused, not cut.
SEARCH_MAX_CHARS = 500


class SearchForm(ThreadFilterForm):
    """Search words plus the thread filter (see ThreadFilterForm); the words match messages of those threads."""

    q = forms.CharField(
        label="Search messages",
        required=False,
        max_length=SEARCH_MAX_CHARS,
        error_messages={"max_length": f"Search with at most {SEARCH_MAX_CHARS} characters (this has %(show_value)d)."},
    )

    field_order = ["q"]

    @property
    def refused(self) -> bool:
        """The words themselves are refused (too long): answer 400 with the error beside the box, no results."""
        self.is_valid()
        return "q" in self.errors

    @property
    def search_text(self) -> str:
        self.is_valid()
        return str(getattr(self, "cleaned_data", {}).get("q") or "").strip()
