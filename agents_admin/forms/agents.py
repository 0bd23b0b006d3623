"""Agent forms: create and edit an agent's definition."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q

from agents_admin.errors import ServiceError
from agents_admin.forms.common import JSONTextField, ServiceErrorMixin
from agents_admin.models import Agent, ModelConnection
from agents_admin.services.agents import agent_clean


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
