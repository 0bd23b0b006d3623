"""Every console input, GET filters included. Validation rules live in agents_admin.validation and the services;
these forms parse text into values and put a service's error beside the field it names."""

from __future__ import annotations

import functools
import json
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.db.models import Q

from agents_admin import selectors_pages
from agents_admin.forms_search import FLAG_NAME
from agents_admin.models import Agent, ModelConnection, Run, RunStatus
from agents_admin.services.agents import agent_clean
from agents_admin.services.errors import ServiceError


class ServiceErrorMixin:
    """Show a ServiceError beside the field its ``param`` names ("tools[0].function.name" -> tools)."""

    def add_service_error(self, error: ServiceError) -> None:
        form: Any = self
        name = (error.param or "").split("[", 1)[0].split(".", 1)[0]
        form.add_error(name if name in form.fields else None, error.message)


class JSONTextField(forms.CharField):
    """A textarea holding JSON; empty means ``empty_value`` (None unless given)."""

    widget = forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "code"})

    def __init__(self, *, empty: Any = None, **kwargs: Any) -> None:
        self.empty = empty
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)

    def to_python(self, value: Any) -> Any:
        text = (value or "").strip()
        if not text:
            return self.empty
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None


class AgentForm(ServiceErrorMixin, forms.Form):
    name = forms.CharField(max_length=256, required=False)
    description = forms.CharField(max_length=512, required=False)
    model = forms.CharField(max_length=256, help_text="The model deployment name, e.g. gpt-4o.")
    connection = forms.ModelChoiceField(
        queryset=ModelConnection.objects.none(),
        required=False,
        empty_label="Resolve by model name",
        help_text="Where runs go; by default the connection that maps the model name, else the default one.",
    )
    instructions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}))
    tools = JSONTextField(empty=[], help_text='A JSON list of tool definitions, e.g. [{"type": "function", …}].')
    temperature = forms.FloatField(required=False, help_text="0 to 2; empty for the model's default.")
    top_p = forms.FloatField(required=False, help_text="0 to 1; empty for the model's default.")
    response_format = JSONTextField(help_text='Empty, "auto", {"type": "text"}, {"type": "json_object"} or a schema.')
    metadata = JSONTextField(empty={}, help_text="A JSON object of up to 16 string pairs.")

    def __init__(self, *args: Any, project_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project_id = project_id
        # Only connections this project may use: its own and the instance-wide ones.
        connection: Any = self.fields["connection"]
        connection.queryset = ModelConnection.objects.filter(
            Q(project_id=project_id) | Q(project__isnull=True)
        ).order_by("name")

    @classmethod
    def for_agent(cls, agent: Agent, data: Any = None) -> AgentForm:
        initial = {name: getattr(agent, name) for name in cls.base_fields}
        return cls(data=data, project_id=agent.project_id, initial=initial)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Field by field, so every bad field is reported at once rather than only the first.
        for name in list(cleaned):
            try:
                cleaned.update(agent_clean({name: cleaned[name]}, project_id=self.project_id))
            except ServiceError as error:
                self.add_service_error(error)
        return cleaned


class ThreadCreateForm(ServiceErrorMixin, forms.Form):
    metadata = JSONTextField(empty={}, help_text="Optional: a JSON object of up to 16 string pairs.")


class MessageForm(ServiceErrorMixin, forms.Form):
    content = forms.CharField(
        label="Message", strip=False, widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write a message…"})
    )


class RunStartForm(ServiceErrorMixin, forms.Form):
    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), empty_label=None)

    def __init__(
        self, *args: Any, agents: Any = None, choices: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        """A submitted form needs ``agents`` (a queryset) to validate the choice. ``choices`` lists the options when
        the caller has them (selectors_pages.agent_choices, for the blank form of the thread page), else they
        come from one read of ``agents``; that one list also tells the page whether there are any agents."""
        super().__init__(*args, **kwargs)
        field: Any = self.fields["agent"]
        if agents is not None:
            field.queryset = agents
        if choices is None:
            choices = [(agent.pk, str(agent)) for agent in agents] if agents is not None else []
        field.choices = choices
        self.has_agents = bool(choices)


class ToolOutputsForm(ServiceErrorMixin, forms.Form):
    """One output field per pending tool call of a run in requires_action; submitted together."""

    def __init__(self, *args: Any, run: Run, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = run.pending_tool_calls
        for call in self.calls:
            function: Any = call.get("function", {})
            self.fields[f"output_{call['id']}"] = forms.CharField(
                label=f"Output of {function.get('name', '?')}",
                required=False,
                strip=False,
                widget=forms.Textarea(attrs={"rows": 2, "class": "code"}),
            )

    def tool_outputs(self) -> list[dict[str, str]]:
        return [
            {"tool_call_id": str(c["id"]), "output": self.cleaned_data.get(f"output_{c['id']}", "")} for c in self.calls
        ]

    def call_rows(self) -> list[tuple[dict[str, Any], forms.BoundField]]:
        return [(call, self[f"output_{call['id']}"]) for call in self.calls]

    def add_service_error(self, error: ServiceError) -> None:
        # Tool-output params ("tool_outputs[0].tool_call_id") name no single field; show them above the form.
        self.add_error(None, error.message)


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
