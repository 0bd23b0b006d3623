"""Forms for user management and the audit page's filters (a GET form: bad values are shown, not fatal)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms

from agents_admin.forms.common import ServiceErrorMixin
from agents_admin.roles import ROLES_LEAST_FIRST
from agents_admin.services.audit import ACTIONS

ROLE_CHOICES = [(role, role) for role in ROLES_LEAST_FIRST]


class UserCreateForm(ServiceErrorMixin, forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(
        choices=ROLE_CHOICES,
        initial=ROLES_LEAST_FIRST[0],
        help_text="Starts at the least privilege. Auditor: the audit log and usage, no conversations. "
        "Reviewer: reads, notes and exports conversations. Operator: also agents and runs. Admin: everything.",
    )
    sso_only = forms.BooleanField(
        required=False,
        label="Signs in with Microsoft only",
        help_text="No password. Their first Microsoft sign-in (with a verified email) links to this account.",
    )


class UserRoleForm(ServiceErrorMixin, forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, help_text="A username or another actor's label.")
    action = forms.ChoiceField(choices=[("", "Any"), *((a, a) for a in ACTIONS)], required=False)
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)

    def filters(self) -> dict[str, Any]:
        """Valid filters only: a bad value in one field is dropped (and shown) rather than failing the page."""
        data = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else {}
        return {
            "actor": (data.get("actor") or "").strip(),
            "action": data.get("action") or "",
            "object_id": (data.get("object_id") or "").strip(),
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "cursor": data.get("cursor") or "",
        }

    def query_without_cursor(self) -> str:
        if not self.is_bound:
            return ""
        return urlencode({key: value for key, value in self.data.items() if key != "cursor" and value})
