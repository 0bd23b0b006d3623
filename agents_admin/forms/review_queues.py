"""Review queue forms: defining a queue (its thread filter is the Threads list's ThreadFilterForm, posted alongside),
and a reviewer's answers to the rubric."""

from __future__ import annotations

from typing import Any

from django import forms

from agents_admin.errors import ServiceError
from agents_admin.forms.common import ServiceErrorMixin
from agents_admin.models import ReviewQueue
from agents_admin.selectors.review_queues import reviewers_eligible
from agents_admin.services.review_queues import KINDS, queue_clean

RUBRIC_HELP = (
    "One field per line: label | kind | required. Kinds: yes_no, scale (1–5), category: choice, choice, …, text. "
    "For example “Resolved? | yes_no | required” or “Topic | category: billing, bug, other”."
)


def rubric_parse(text: str) -> list[dict[str, Any]]:
    """The rubric's lines as fields for services.review_queues.rubric_clean (which checks them)."""
    fields = []
    for line_no, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) < 2:
            raise forms.ValidationError(f"Line {line_no}: write “label | kind”, e.g. “Resolved? | yes_no”.")
        kind, _, choices = parts[1].partition(":")
        kind = kind.strip().lower().replace("/", "_").replace(" ", "_")
        if kind not in KINDS:
            raise forms.ValidationError(f"Line {line_no}: the kind must be one of {', '.join(KINDS)}.")
        fields.append(
            {
                "label": parts[0],
                "kind": kind,
                "choices": [c.strip() for c in choices.split(",") if c.strip()],
                "required": any(part.lower() == "required" for part in parts[2:]),
            }
        )
    return fields


def rubric_text(rubric: list[dict[str, Any]]) -> str:
    """A stored rubric as the form's lines (what ``rubric_parse`` reads back)."""
    lines = []
    for field in rubric:
        kind = field["kind"] + (": " + ", ".join(field["choices"]) if field["kind"] == "category" else "")
        lines.append(" | ".join([field["label"], kind] + (["required"] if field.get("required") else [])))
    return "\n".join(lines)


class ReviewQueueForm(ServiceErrorMixin, forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    q = forms.CharField(
        label="Words",
        required=False,
        max_length=200,
        help_text="Only threads with a message matching these words (as on Search). Leave empty for any.",
    )
    entry = forms.ChoiceField(label="Threads enter", choices=ReviewQueue.Entry.choices, widget=forms.RadioSelect)
    sample_percent = forms.IntegerField(label="Sample %", min_value=1, max_value=100, required=False)
    per_day = forms.IntegerField(label="Threads a day", min_value=1, required=False)
    scope = forms.ChoiceField(label="Which threads", choices=ReviewQueue.Scope.choices, widget=forms.RadioSelect)
    reviewers = forms.ModelMultipleChoiceField(queryset=reviewers_eligible(), widget=forms.CheckboxSelectMultiple)
    assignment = forms.ChoiceField(choices=ReviewQueue.Assignment.choices, widget=forms.RadioSelect)
    reviews_per_item = forms.IntegerField(
        label="Reviewers per thread",
        min_value=1,
        max_value=5,
        initial=1,
        help_text="2 or more: several reviewers score the same thread, and the results show how often they agree.",
    )
    rubric = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "class": "code"}), help_text=RUBRIC_HELP)
    enabled = forms.BooleanField(required=False, initial=True, help_text="A disabled queue takes no new threads.")

    def __init__(self, *args: Any, queue: ReviewQueue | None = None, filters: dict[str, str] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.queue = queue
        self.filter_params = filters or {}
        self.fields["reviewers"].queryset = reviewers_eligible()

    def clean_rubric(self) -> list[dict[str, Any]]:
        return rubric_parse(self.cleaned_data.get("rubric", ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors:
            data = {**cleaned, "filters": {**self.filter_params, "q": cleaned.get("q", "")}}
            try:
                self.settings = queue_clean(data, queue=self.queue)
            except ServiceError as error:
                self.add_service_error(error)
        return cleaned

    @staticmethod
    def initial_for(queue: ReviewQueue, reviewer_ids: list[int]) -> dict[str, Any]:
        return {
            "name": queue.name,
            "description": queue.description,
            "q": (queue.filters or {}).get("q", ""),
            "entry": queue.entry,
            "sample_percent": queue.sample_percent,
            "per_day": queue.per_day,
            "scope": queue.scope,
            "reviewers": reviewer_ids,
            "assignment": queue.assignment,
            "reviews_per_item": queue.reviews_per_item,
            "rubric": rubric_text(queue.rubric),
            "enabled": queue.enabled,
        }

    NEW_INITIAL = {
        "entry": ReviewQueue.Entry.ALL,
        "scope": ReviewQueue.Scope.NEW,
        "assignment": ReviewQueue.Assignment.ROUND_ROBIN,
        "reviews_per_item": 1,
        "enabled": True,
    }


class ReviewForm(ServiceErrorMixin, forms.Form):
    """A reviewer's answers: one field per rubric field (``score_<key>``), checked by services.scores_clean."""

    def __init__(self, *args: Any, rubric: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rubric = rubric
        for field in rubric:
            name = f"score_{field['key']}"
            label = field["label"]
            required = bool(field.get("required"))
            if field["kind"] == "yes_no":
                choices = [("yes", "Yes"), ("no", "No")]
            elif field["kind"] == "scale":
                choices = [(str(n), str(n)) for n in range(1, 6)]
            elif field["kind"] == "category":
                choices = [(c, c) for c in field["choices"]]
            else:
                self.fields[name] = forms.CharField(
                    label=label, required=required, max_length=5_000, widget=forms.Textarea(attrs={"rows": 3})
                )
                continue
            self.fields[name] = forms.ChoiceField(
                label=label, required=required, choices=choices, widget=forms.RadioSelect
            )

    def scores(self) -> dict[str, Any]:
        return {field["key"]: self.cleaned_data.get(f"score_{field['key']}") for field in self.rubric}


class SkipForm(forms.Form):
    skip_reason = forms.CharField(label="Reason for skipping", max_length=500)
