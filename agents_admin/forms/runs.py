"""Run forms: start a run, submit tool outputs."""

from __future__ import annotations

from typing import Any

from django import forms

from agents_admin.errors import ServiceError
from agents_admin.forms.common import ServiceErrorMixin
from agents_admin.models import Agent, Run


class RunStartForm(ServiceErrorMixin, forms.Form):
    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), empty_label=None)

    def __init__(self, *args: Any, agents: Any = None, **kwargs: Any) -> None:
        """``agents`` (a queryset) are the choices; they are read once, and that one list also tells the page
        whether there are any agents."""
        super().__init__(*args, **kwargs)
        field: Any = self.fields["agent"]
        if agents is not None:
            field.queryset = agents
        choices = [(agent.pk, str(agent)) for agent in agents] if agents is not None else []
        field.choices = choices
        self.has_agents = bool(choices)


class ToolOutputsForm(ServiceErrorMixin, forms.Form):
    """One output field per pending tool call of a run in requires_action; submitted together."""

    EMPTY_OUTPUT = "This output is empty. Send empty output? Tick “Send empty output” and submit again."

    send_empty = forms.BooleanField(required=False, label="Send empty output")

    def __init__(self, *args: Any, run: Run, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = run.pending_tool_calls
        # Set when an output is empty and unconfirmed: the page then shows the "Send empty output" box.
        self.asks_empty = False
        for call in self.calls:
            function: Any = call.get("function", {})
            self.fields[f"output_{call['id']}"] = forms.CharField(
                label=f"Output of {function.get('name', '?')}",
                required=False,
                strip=False,
                widget=forms.Textarea(attrs={"rows": 2, "class": "code"}),
            )

    def clean(self) -> dict[str, Any]:
        """An empty output is usually a slip (the model then answers from nothing), so it is sent only when
        "Send empty output" is ticked."""
        cleaned = super().clean() or {}
        if not cleaned.get("send_empty"):
            for call in self.calls:
                name = f"output_{call['id']}"
                if name in cleaned and not cleaned[name].strip():
                    self.add_error(name, self.EMPTY_OUTPUT)
                    self.asks_empty = True
        return cleaned

    def tool_outputs(self) -> list[dict[str, str]]:
        return [
            {"tool_call_id": str(c["id"]), "output": self.cleaned_data.get(f"output_{c['id']}", "")} for c in self.calls
        ]

    def call_rows(self) -> list[tuple[dict[str, Any], forms.BoundField]]:
        return [(call, self[f"output_{call['id']}"]) for call in self.calls]

    def add_service_error(self, error: ServiceError) -> None:
        # Tool-output params ("tool_outputs[0].tool_call_id") name no single field; show them above the form.
        self.add_error(None, error.message)
