"""Thread forms: create a thread, add a message, filter the thread list."""

from __future__ import annotations

import functools
from typing import Any, cast
from urllib.parse import urlencode

from django import forms

from agents_admin.forms.common import JSONTextField, ServiceErrorMixin
from agents_admin.forms.search import FLAG_NAME
from agents_admin.models import Agent, RunStatus
from agents_admin.selectors import conversation as selectors_pages


class ThreadCreateForm(ServiceErrorMixin, forms.Form):
    metadata = JSONTextField(empty={}, help_text="Optional: a JSON object of up to 16 string pairs.")


class MessageForm(ServiceErrorMixin, forms.Form):
    content = forms.CharField(
        label="Message", strip=False, widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write a message…"})
    )


class ThreadFilterForm(forms.Form):
    agent = forms.ModelChoiceField(queryset=Agent.objects.order_by("name", "id"), required=False, empty_label="Any")
    status = forms.ChoiceField(choices=[("", "Any"), *RunStatus.choices], required=False, label="Last run status")
    created_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # Free text with the standard flags offered by a <datalist> (thread_list.html): free tags are filters too.
    flag = forms.CharField(
        label="Flag or tag", required=False, max_length=40, widget=forms.TextInput(attrs={"list": "flag-names"})
    )
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The options from one SQL read, labelled as Agent.__str__ does; the queryset still validates a choice.
        cast(forms.ChoiceField, self.fields["agent"]).choices = functools.cache(
            lambda: [("", "Any")] + [(agent_id, name or agent_id) for agent_id, name in selectors_pages.agents_named()]
        )

    def clean_flag(self) -> str:
        flag = (self.cleaned_data.get("flag") or "").strip().lower()
        if flag and not FLAG_NAME.match(flag):
            raise forms.ValidationError("A flag is lower-case letters, digits and '-'.")
        return flag

    def filters(self) -> dict[str, Any]:
        """Valid filters only: a bad value in one field is dropped (and shown) rather than failing the page."""
        data = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else {}
        return {
            "agent": data.get("agent"),
            "status": data.get("status") or "",
            "created_from": data.get("created_from"),
            "created_to": data.get("created_to"),
            "flag": data.get("flag") or "",
            "cursor": data.get("cursor") or "",
        }

    def query_without_cursor(self) -> str:
        if not self.is_bound:
            return ""
        params = {key: value for key, value in self.data.items() if key != "cursor" and value}
        return urlencode(params)
