"""Thread forms: create a thread, add a message, and the thread filter that lists, search and exports share."""

from __future__ import annotations

import functools
from typing import Any, cast
from urllib.parse import urlencode

from django import forms

from agents_admin.forms.common import JSONTextField, ServiceErrorMixin
from agents_admin.models import RunStatus
from agents_admin.selectors.threads import (
    DEFAULT_SORT,
    HAS_FAILED_RUN,
    SORT_LABELS,
    ThreadFilters,
    thread_filter_choices,
)

RUN_STATUS_CHOICES = [("", "Any"), (HAS_FAILED_RUN, "Has a failed run")] + [
    (status.value, f"Last run {status.label.lower()}") for status in RunStatus
]


class ThreadCreateForm(ServiceErrorMixin, forms.Form):
    metadata = JSONTextField(empty={}, help_text="Optional: a JSON object of up to 16 string pairs.")


class MessageForm(ServiceErrorMixin, forms.Form):
    content = forms.CharField(
        label="Message", strip=False, widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write a message…"})
    )


class ThreadFilterForm(forms.Form):
    """The thread filter of the thread list, search and exports (GET, so every state is a shareable URL).

    The fields render the inputs and check the choices; ThreadFilters.from_params reads the values, so a query
    string means the same wherever it is read. An invalid field is left out of the filters and shown beside the
    field, so the page still shows something.
    """

    project = forms.ChoiceField(required=False)
    agent = forms.ChoiceField(required=False, help_text="The agent of the thread's last run.")
    date_from = forms.CharField(
        label="Active from",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Last activity on or after this day.",
    )
    date_to = forms.CharField(
        label="Active to",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Last activity on or before this day.",
    )
    run_status = forms.ChoiceField(label="Runs", required=False, choices=RUN_STATUS_CHOICES)
    meta = forms.CharField(
        label="Metadata", required=False, max_length=200, widget=forms.TextInput(attrs={"placeholder": "key=value"})
    )
    # Free text with the standard flags offered by a <datalist> (thread_list.html, search.html): free tags are
    # filters too.
    flag = forms.CharField(
        label="Flag or tag", required=False, max_length=40, widget=forms.TextInput(attrs={"list": "flag-names"})
    )
    has_notes = forms.BooleanField(label="Has notes", required=False)
    on_hold = forms.BooleanField(label="On hold", required=False)
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read only when the form is validated or rendered, and once for both fields (a callable's choices are read
        # again on every use). Projects are labelled as Project.__str__ writes them (the display name, else the name).
        choices = functools.cache(thread_filter_choices)
        cast(forms.ChoiceField, self.fields["project"]).choices = lambda: (
            [("", "Any")] + [(name, shown or name) for name, shown in choices()[0]]
        )
        cast(forms.ChoiceField, self.fields["agent"]).choices = lambda: (
            [("", "Any")] + [(agent_id, f"{name} ({agent_id})") for agent_id, name in choices()[1]]
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        given = {name: self.data.get(name) for name in ThreadFilters.PARAMS if name not in self.errors}
        self._filters, errors = ThreadFilters.from_params(given)
        for name, message in errors.items():
            self.add_error(name, message)
        return data

    def filters(self) -> ThreadFilters:
        """The valid filters (a field with an error is ignored); no filter for an unbound form."""
        self.is_valid()
        return getattr(self, "_filters", ThreadFilters())

    @property
    def cursor_value(self) -> str:
        self.is_valid()
        return str(getattr(self, "cleaned_data", {}).get("cursor") or "")

    def query_without_cursor(self) -> str:
        """The query string of this form without the cursor, for "next page" and export links."""
        if not self.is_bound:
            return ""
        pairs = [(k, v) for k, v in self.data.items() if k in self.fields and k != "cursor" and v not in ("", None)]
        return urlencode(pairs)


class ThreadListForm(ThreadFilterForm):
    """The Threads list's filter, plus its sort order (search and exports have their own orders)."""

    sort = forms.ChoiceField(label="Sort by", required=False, choices=list(SORT_LABELS.items()))

    @property
    def sort_value(self) -> str:
        self.is_valid()
        return str(getattr(self, "cleaned_data", {}).get("sort") or DEFAULT_SORT)
