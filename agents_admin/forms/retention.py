"""Retention forms: policies (checked by services.retention.policy_clean), holds, report paging, run now."""

from __future__ import annotations

from typing import Any

from django import forms

from agents_admin.errors import ServiceError
from agents_admin.forms.common import ServiceErrorMixin
from agents_admin.models import Agent, Project, RetentionPolicy
from agents_admin.services.audit import Actor
from agents_admin.services.retention import policy_clean


class AgentInProjectChoiceField(forms.ModelMultipleChoiceField):
    """Agents named with their project: two projects may each have a "support" agent."""

    def label_from_instance(self, obj: Agent) -> str:  # type: ignore[override]
        return f"{obj} ({obj.project})"


class RetentionPolicyForm(ServiceErrorMixin, forms.Form):
    name = forms.CharField(max_length=200)
    target = forms.ChoiceField(
        choices=RetentionPolicy.Target.choices,
        required=False,  # left out: threads, as before vector stores could be purged
        label="Purges",
        help_text="Vector stores: deleted once idle (or created) N days ago, or past their own expires_after; "
        "agents, metadata and trim do not apply.",
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.order_by("name"),
        required=False,
        empty_label="— Instance-wide default —",
        help_text="Leave empty for the instance-wide default, which covers every thread.",
    )
    agents = AgentInProjectChoiceField(
        queryset=Agent.objects.select_related("project").order_by("project__name", "name", "id"),
        required=False,
        help_text="Only threads whose latest run used one of these agents.",
    )
    metadata_key = forms.CharField(max_length=64, required=False)
    metadata_value = forms.CharField(max_length=512, required=False)
    criterion = forms.ChoiceField(choices=RetentionPolicy.Criterion.choices)
    days = forms.IntegerField(min_value=0, help_text="N days; a thread exactly N days old qualifies.")
    action = forms.ChoiceField(choices=RetentionPolicy.Action.choices)
    keep_last_messages = forms.IntegerField(min_value=1, required=False, help_text="Trim only.")
    schedule = forms.ChoiceField(choices=RetentionPolicy.Schedule.choices)
    daily_at = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    every_hours = forms.IntegerField(min_value=1, required=False)
    allow_less_strict = forms.BooleanField(
        required=False,
        label="Allow less strict than the default (administrators only)",
        help_text="A project-wide policy whose own days count; the default then leaves this project alone.",
    )
    enabled = forms.BooleanField(
        required=False,
        initial=False,
        label="Enabled (runs on its schedule)",
        help_text="Possible once a dry run has shown what the policy would purge.",
    )

    def __init__(self, *args: Any, policy: RetentionPolicy | None, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.actor = actor
        if policy is None:
            # A new policy starts disabled; it is enabled from its page after a dry run.
            del self.fields["enabled"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors:  # the rules compare fields, so they need every field parsed
            try:
                cleaned.update(policy_clean(cleaned, policy=self.policy, actor=self.actor))
            except ServiceError as error:
                self.add_service_error(error)
        return cleaned

    @staticmethod
    def initial_for(policy: RetentionPolicy) -> dict[str, Any]:
        return {
            "name": policy.name,
            "target": policy.target,
            "project": policy.project_id,
            "agents": list(policy.agents.values_list("pk", flat=True)),
            "metadata_key": policy.metadata_key,
            "metadata_value": policy.metadata_value,
            "criterion": policy.criterion,
            "days": policy.days,
            "action": policy.action,
            "keep_last_messages": policy.keep_last_messages,
            "schedule": policy.schedule,
            "daily_at": policy.daily_at,
            "every_hours": policy.every_hours,
            "allow_less_strict": policy.allow_less_strict,
            "enabled": policy.enabled,
        }


class HoldForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"placeholder": "e.g. litigation hold"}))
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at (UTC, optional)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class CursorForm(forms.Form):
    """Keyset pages: ``?before=<id>``."""

    before = forms.IntegerField(required=False, min_value=1)


class RunNowForm(forms.Form):
    """``preview``: the dry run whose cutoff the real run reuses, so both pick the same threads;
    ``confirm_name``: the policy's name, typed to run without a recent dry run."""

    preview = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    confirm_name = forms.CharField(
        required=False,
        max_length=200,
        label="Type the policy's name to run it without a dry run",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class PolicyEnableForm(forms.Form):
    enabled = forms.BooleanField(required=False)
