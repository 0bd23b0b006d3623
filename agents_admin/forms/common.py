"""Pieces every console form shares: a service's error shown beside the field it names, JSON typed as text."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from agents_admin.errors import ServiceError
from agents_admin.lib.text import json_text_problem


class ServiceErrorMixin:
    """Show a ServiceError beside the field its ``param`` names ("tools[0].function.name" -> tools)."""

    def add_service_error(self, error: ServiceError) -> None:
        form: Any = self
        name = (error.param or "").split("[", 1)[0].split(".", 1)[0]
        form.add_error(name if name in form.fields else None, error.message)


class JSONTextField(forms.CharField):
    """A textarea holding JSON; empty text means ``empty`` (None unless given)."""

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
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        except RecursionError:
            raise forms.ValidationError("Not valid JSON: nested too deeply.") from None
        problem = json_text_problem(value)
        if problem is not None:
            where, reason = problem
            raise forms.ValidationError(f"{where}: {reason}." if where != "body" else f"The JSON {reason}.")
        return value
