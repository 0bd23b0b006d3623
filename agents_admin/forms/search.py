"""Forms for support review: the search/filter form (GET, so every state is a shareable URL), notes and flags.

Kept apart from the console's forms.py so the two branches merge without touching the same file.
"""

from __future__ import annotations

import functools
import re
from typing import Any, cast
from urllib.parse import urlencode

from django import forms

from agents_admin.models import ExportJob, RunStatus, ThreadFlag
from agents_admin.selectors.conversation import agents_named, projects_named
from agents_admin.selectors.search import HAS_FAILED_RUN, METADATA_KEY, ThreadFilters, hold_model
from agents_admin.services.exports import filters_from_params

FLAG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
RUN_STATUS_CHOICES = [("", "Any"), (HAS_FAILED_RUN, "Has a failed run")] + [
    (status.value, f"Last run {status.label.lower()}") for status in RunStatus
]


class SearchForm(forms.Form):
    """Search words plus thread filters. Invalid fields are dropped from the filters and shown beside the field."""

    q = forms.CharField(label="Search messages", required=False, max_length=500)
    project = forms.ChoiceField(required=False)
    agent = forms.ChoiceField(required=False)
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    run_status = forms.ChoiceField(label="Runs", required=False, choices=RUN_STATUS_CHOICES)
    meta = forms.CharField(
        label="Metadata", required=False, max_length=200, widget=forms.TextInput(attrs={"placeholder": "key=value"})
    )
    flag = forms.CharField(
        label="Flag or tag", required=False, max_length=40, widget=forms.TextInput(attrs={"list": "flag-names"})
    )
    has_notes = forms.BooleanField(label="Has notes", required=False)
    on_hold = forms.BooleanField(label="On hold", required=False)
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Small tables (projects, agents); one query each, only when the form is validated or rendered, and
        # only once for both (a callable's choices are read again on every use).
        # Labels as Project.__str__ writes them (the display name, else the name).
        cast(forms.ChoiceField, self.fields["project"]).choices = functools.cache(
            lambda: [("", "Any")] + [(name, shown or name) for name, shown in projects_named()]
        )
        cast(forms.ChoiceField, self.fields["agent"]).choices = functools.cache(
            lambda: [("", "Any")] + [(agent_id, f"{name} ({agent_id})") for agent_id, name in agents_named()]
        )
        if hold_model() is None:
            del self.fields["on_hold"]

    def clean_project(self) -> str:
        return self.cleaned_data.get("project") or ""

    def clean_meta(self) -> tuple[str, str] | None:
        raw = (self.cleaned_data.get("meta") or "").strip()
        if not raw:
            return None
        key, sep, value = raw.partition("=")
        if not sep or not METADATA_KEY.match(key.strip()):
            raise forms.ValidationError("Use key=value, with a key of letters, digits, '_', '.' or '-'.")
        return key.strip(), value.strip()

    def clean_flag(self) -> str:
        flag = (self.cleaned_data.get("flag") or "").strip().lower()
        if flag and not FLAG_NAME.match(flag):
            raise forms.ValidationError("A flag is lower-case letters, digits and '-'.")
        return flag

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def _valid(self, name: str, default: Any) -> Any:
        if not self.is_bound or name in self.errors:
            return default
        value = getattr(self, "cleaned_data", {}).get(name)
        return default if value is None else value

    def filters(self) -> ThreadFilters:
        """The valid filters (a field with an error is ignored, so the page still shows something)."""
        self.is_valid()
        meta = self._valid("meta", None)
        return ThreadFilters(
            project=self._valid("project", ""),
            agent=self._valid("agent", ""),
            date_from=self._valid("date_from", None),
            date_to=self._valid("date_to", None) if "date_to" not in self.errors else None,
            run_status=self._valid("run_status", ""),
            metadata_key=meta[0] if meta else "",
            metadata_value=meta[1] if meta else "",
            flag=self._valid("flag", ""),
            has_notes=bool(self._valid("has_notes", False)),
            on_hold=bool(self._valid("on_hold", False)),
        )

    @property
    def search_text(self) -> str:
        self.is_valid()
        return str(self._valid("q", "")).strip()

    @property
    def cursor_value(self) -> str:
        self.is_valid()
        return str(self._valid("cursor", ""))

    def query_without_cursor(self) -> str:
        """The query string of this search without the cursor, for "next page" and export links."""
        if not self.is_bound:
            return ""
        pairs = [(k, v) for k, v in self.data.items() if k in self.fields and k != "cursor" and v not in ("", None)]
        return urlencode(pairs)


class NoteForm(forms.Form):
    body = forms.CharField(label="Add a note", max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}))


class FlagForm(forms.Form):
    name = forms.CharField(max_length=40)
    on = forms.BooleanField(required=False)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip().lower()
        if not FLAG_NAME.match(name):
            raise forms.ValidationError("A flag is lower-case letters, digits and '-'.")
        return name


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportJob.Format.choices)


def search_query(filters: ThreadFilters) -> str:
    """The SearchForm query string that selects ``filters`` (the inverse of SearchForm.filters)."""
    pairs = [
        ("project", filters.project),
        ("agent", filters.agent),
        ("date_from", filters.date_from.isoformat() if filters.date_from else ""),
        ("date_to", filters.date_to.isoformat() if filters.date_to else ""),
        ("run_status", filters.run_status),
        ("meta", f"{filters.metadata_key}={filters.metadata_value}" if filters.metadata_key else ""),
        ("flag", filters.flag),
        ("has_notes", "on" if filters.has_notes else ""),
        ("on_hold", "on" if filters.on_hold else ""),
    ]
    return urlencode([(name, value) for name, value in pairs if value])


def export_again_fields(job: ExportJob) -> dict[str, str]:
    """The export_start form fields that start the same export as ``job`` again (after it expired or failed)."""
    if "thread_id" in job.params:
        return {"format": job.format, "thread_id": job.params["thread_id"]}
    filters = filters_from_params(job.params.get("filters", {}))
    return {"format": job.format, "query": search_query(filters)}


STANDARD_FLAGS = ThreadFlag.STANDARD
