"""Usage forms: the usage page's range, filters and breakdown (GET), the runs list behind a chart point, and
the model price table."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from agents_admin.forms.common import ServiceErrorMixin
from agents_admin.models import ModelPrice, RunStatus
from agents_admin.selectors.usage import DIMENSION_COLUMNS, RANGES, UsageFilters

RANGE_CHOICES = [("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"), ("custom", "Custom")]
BY_CHOICES = [("agent", "Agent"), ("project", "Project"), ("model", "Model"), ("principal", "API key or user"),
              ("connection", "Connection")]  # fmt: skip
MAX_CUSTOM_DAYS = 400


class UsageForm(forms.Form):
    """The usage page's state, all in the URL. Invalid fields are shown beside the field and left out."""

    range = forms.ChoiceField(choices=RANGE_CHOICES, required=False)
    start = forms.DateField(required=False, label="From", help_text="First day (UTC), with Custom.",
                            widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    end = forms.DateField(required=False, label="To", help_text="Last day (UTC), with Custom.",
                          widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    project = forms.ChoiceField(required=False)
    agent = forms.ChoiceField(required=False)
    model = forms.ChoiceField(required=False)
    principal = forms.ChoiceField(required=False, label="API key or user")
    connection = forms.ChoiceField(required=False)
    by = forms.ChoiceField(choices=BY_CHOICES, required=False, label="Break down by")

    def __init__(self, *args: Any, choices: dict[str, list[tuple[str, str]]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in DIMENSION_COLUMNS:
            field: Any = self.fields[name]
            options = list((choices or {}).get(name, []))
            current = self.data.get(name)
            if current and current not in {value for value, _ in options}:
                options.append((current, current))  # a deleted agent or project stays selectable by its id
            field.choices = [("", "All"), *options]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("range") == "custom":
            start, end = data.get("start"), data.get("end")
            if start is None:
                self.add_error("start", "Give the first day of a custom range.")
            if end is None:
                self.add_error("end", "Give the last day of a custom range.")
            if start and end:
                if end < start:
                    self.add_error("end", "The last day is before the first.")
                elif (end - start).days >= MAX_CUSTOM_DAYS:
                    self.add_error("end", f"A custom range spans at most {MAX_CUSTOM_DAYS} days.")
        return data

    def filters(self) -> UsageFilters:
        valid = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if not valid and self.is_bound:  # keep every field that is valid on its own
            valid = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        dims = {name: valid[name] for name in DIMENSION_COLUMNS if valid.get(name) not in (None, "")}
        by = valid.get("by") or "agent"
        name = valid.get("range") or "24h"
        if name == "custom" and valid.get("start") and valid.get("end") and "end" not in self.errors:
            return UsageFilters.for_days(valid["start"], valid["end"], dims=dims, by=by)
        return UsageFilters.for_range(name if name in RANGES else "24h", dims=dims, by=by)


class RunFilterForm(forms.Form):
    """The runs a chart point counted: creation time ``[start, end)``, dimensions, a status or an error code."""

    start = forms.DateTimeField(required=False)
    end = forms.DateTimeField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *RunStatus.choices])
    error = forms.CharField(required=False, max_length=64, label="Error code")
    project = forms.CharField(required=False, max_length=40)
    agent = forms.CharField(required=False, max_length=40)
    model = forms.CharField(required=False, max_length=256)
    principal = forms.CharField(required=False, max_length=150, label="API key or user")
    connection = forms.CharField(required=False, max_length=40)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("start", "end"):
            moment = data.get(name)
            if moment is not None and timezone.is_naive(moment):
                data[name] = moment.replace(tzinfo=UTC)
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", "The end is not after the start.")
        return data

    def values(self) -> dict[str, Any]:
        """The valid filters (an invalid field is left out and shown beside the field); without a start, the
        last 24 hours."""
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        start = data.get("start") or (timezone.now() - timedelta(hours=24) if not data.get("end") else None)
        dims = {name: data[name] for name in DIMENSION_COLUMNS if data.get(name)}
        return {"start": start, "end": data.get("end"), "dims": dims, "status": data.get("status") or "",
                "error": data.get("error") or ""}  # fmt: skip


class ModelPriceForm(ServiceErrorMixin, forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = ["model", "effective_from", "input_per_million", "output_per_million", "currency"]
        widgets = {"effective_from": forms.DateInput(attrs={"type": "date"})}

    def clean_currency(self) -> str:
        code = (self.cleaned_data.get("currency") or "").strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise forms.ValidationError("A three-letter ISO 4217 code, e.g. USD or EUR.")
        return code

    def clean_input_per_million(self) -> Any:
        return _not_negative(self.cleaned_data.get("input_per_million"))

    def clean_output_per_million(self) -> Any:
        return _not_negative(self.cleaned_data.get("output_per_million"))


def _not_negative(value: Any) -> Any:
    if value is not None and value < 0:
        raise forms.ValidationError("A price cannot be negative.")
    return value
