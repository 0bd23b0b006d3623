"""Exports: small ones stream straight into the response, big ones run as a background job with progress."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from agents_admin.errors import ServiceError
from agents_admin.forms.exports import ExportForm, export_again_fields
from agents_admin.forms.threads import ThreadFilterForm
from agents_admin.models import ExportJob, Thread
from agents_admin.services import exports
from agents_admin.services.audit import export_read_record
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page

CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "md": "text/markdown"}


def _stream(chunks: Iterator[tuple[str, int]], fmt: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse((text for text, _ in chunks), content_type=f"{CONTENT_TYPES[fmt]}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@capability_required("review_conversations")
def thread_export(request: HtmxHttpRequest, thread_id: str) -> HttpResponseBase:
    """One thread as ?format=jsonl|csv|md, streamed; past the inline limit, a page offering a background job."""
    thread = get_object_or_404(Thread, pk=thread_id)
    form = ExportForm(data=request.GET)
    if not form.is_valid():
        return render(request, "agents_admin/export_start.html", {"form": form, "thread": thread}, status=400)
    fmt = form.cleaned_data["format"]
    if thread.message_count > exports.EXPORT_INLINE_LIMIT:
        context = {"form": form, "thread": thread, "estimate": thread.message_count, "fmt": fmt}
        return render(request, "agents_admin/export_start.html", context)
    export_read_record(action="export.inline", actor=request.user, fmt=fmt, thread=thread, request=request)
    return _stream(exports.thread_export_chunks(thread=thread, fmt=fmt), fmt, f"{thread.id}.{fmt}")


@require_GET
@capability_required("review_conversations")
def threads_export(request: HtmxHttpRequest) -> HttpResponseBase:
    """Every thread matching the thread filter (the search words are not applied), as ?format=jsonl|csv; big ones
    become a job."""
    filter_form, form = ThreadFilterForm(data=request.GET), ExportForm(data=request.GET)
    filters = filter_form.filters()
    if not form.is_valid() or form.cleaned_data["format"] not in exports.FORMATS_FOR_FILTERS:
        if form.is_valid():
            form.add_error("format", "Exports of many threads are JSON Lines or CSV.")
        return render(request, "agents_admin/export_start.html", {"form": form}, status=400)
    fmt, estimate = form.cleaned_data["format"], exports.filtered_export_estimate(filters)
    if estimate > exports.EXPORT_INLINE_LIMIT:
        context = {"form": form, "query": filter_form.query_without_cursor(), "estimate": estimate}
        return render(request, "agents_admin/export_start.html", {**context, "fmt": fmt})
    export_read_record(
        action="export.inline", actor=request.user, fmt=fmt, filters=filters.to_params(), request=request,
        estimate=estimate,
    )  # fmt: skip
    return _stream(exports.filtered_export_chunks(filters=filters, fmt=fmt), fmt, f"threads.{fmt}")


@require_POST
@capability_required("review_conversations")
def export_start(request: HtmxHttpRequest) -> HttpResponse:
    """Queue a background export of ``thread_id``, or of the threads matching the posted ``query`` string."""
    form = ExportForm(data=request.POST)
    if not form.is_valid():
        return render(request, "agents_admin/export_start.html", {"form": form}, status=400)
    thread_id = request.POST.get("thread_id", "")
    try:
        if thread_id:
            thread = get_object_or_404(Thread, pk=thread_id)
            job = exports.export_job_create(
                actor=request.user, fmt=form.cleaned_data["format"], thread=thread, request=request
            )
        else:
            filters = ThreadFilterForm(data=QueryDict(request.POST.get("query", ""))).filters()
            estimate = exports.filtered_export_estimate(filters)
            job = exports.export_job_create(
                actor=request.user, fmt=form.cleaned_data["format"], filters=filters, estimate=estimate,
                request=request,
            )  # fmt: skip
    except ServiceError as error:
        form.add_error("format", error.message)
        return render(request, "agents_admin/export_start.html", {"form": form, "limited": True}, status=429)
    messages.success(request, "Export started; this page follows it.")
    return redirect("agents_admin:export_job", job_id=job.pk)


def _job_for(request: HtmxHttpRequest, job_id: int) -> ExportJob:
    job = get_object_or_404(ExportJob, pk=job_id)
    if job.created_by_id != request.user.pk and not request.user.is_superuser:
        raise PermissionDenied("This export belongs to someone else.")
    return job


def _job_context(job: ExportJob) -> dict[str, object]:
    # "again": the fields of a form that starts the same export anew, offered once this one expired or failed.
    return {"job": job, "again": export_again_fields(job)}


@require_GET
@capability_required("review_conversations")
def export_job(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """The job's page; htmx polls its progress region, which stops polling once the job is finished."""
    job = _job_for(request, job_id)
    return render_page(request, "agents_admin/export_job.html", _job_context(job), partial="progress")


@require_GET
@capability_required("review_conversations")
def export_download(request: HtmxHttpRequest, job_id: int) -> HttpResponseBase:
    """The file of a completed job; 410 Gone with the job's page (and a way to start again) once it expired."""
    job = _job_for(request, job_id)
    if job.status == ExportJob.Status.EXPIRED:
        return render(request, "agents_admin/export_job.html", _job_context(job), status=410)
    if job.status != ExportJob.Status.COMPLETED or not job.file_path or not Path(job.file_path).exists():
        raise Http404("This export has no file (yet).")
    name = f"export-{job.pk}.{job.format}"
    export_read_record(
        action="export.download", actor=request.user, fmt=job.format, job_id=job.pk, request=request,
        **job.params,
    )  # fmt: skip
    return FileResponse(Path(job.file_path).open("rb"), as_attachment=True, filename=name)
