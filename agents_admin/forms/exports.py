"""Forms for exports: the format, and the fields that start an export again."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms

from agents_admin.models import ExportJob
from agents_admin.services.exports import job_filters


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportJob.Format.choices)


def export_again_fields(job: ExportJob) -> dict[str, str]:
    """The export_start form fields that start the same export as ``job`` again (after it expired or failed)."""
    if "thread_id" in job.params:
        return {"format": job.format, "thread_id": job.params["thread_id"]}
    return {"format": job.format, "query": urlencode(job_filters(job).to_params())}
