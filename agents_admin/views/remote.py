"""Settings pages for remote Foundry projects (capability manage_connections): connections, test connection,
sync now, sync progress, export."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from agents_admin.errors import ServiceError
from agents_admin.forms.remote import RemoteProjectForm
from agents_admin.models import RemoteProject, SyncRecord
from agents_admin.services.audit import export_read_record
from agents_admin.services.remote import (
    remote_project_create,
    remote_project_test,
    remote_project_update,
    remote_sync_start,
)
from agents_admin.services.remote_export import EXPORT_FORMATS, remote_project_export_stream
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page

RECENT_SYNCS = 10
# Connections hold credentials: the same capability as model connections (Admin role, and superusers).
MANAGE = "manage_connections"


@require_GET
@capability_required(MANAGE)
def remote_project_list(request: HtmxHttpRequest) -> HttpResponse:
    latest = SyncRecord.objects.filter(remote_project=OuterRef("pk")).order_by("-created_at", "-id")
    remotes = RemoteProject.objects.select_related("project").annotate(
        latest_sync_status=Subquery(latest.values("status")[:1])
    )
    template = "agents_admin/remote_project_list.html"
    return render_page(request, template, {"remotes": remotes}, partial="list")


@sensitive_post_parameters("secret")  # never in an error report
@require_http_methods(["GET", "POST"])
@capability_required(MANAGE)
def remote_project_create_view(request: HtmxHttpRequest) -> HttpResponse:
    form = RemoteProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            remote = remote_project_create(
                secret=form.cleaned_data["secret"], actor=request.user, **form.service_fields()
            )
        except ServiceError as exc:
            form.add_error(exc.param if exc.param in form.fields else None, exc.message)
        else:
            messages.success(request, f"Remote project {remote.name} saved.")
            return redirect("agents_admin:remote_project_edit", remote_id=remote.pk)
    return render(request, "agents_admin/remote_project_form.html", {"form": form, "remote": None})


@sensitive_post_parameters("secret")  # never in an error report
@require_http_methods(["GET", "POST"])
@capability_required(MANAGE)
def remote_project_edit(request: HtmxHttpRequest, remote_id: int) -> HttpResponse:
    remote = get_object_or_404(RemoteProject, pk=remote_id)
    form = RemoteProjectForm(request.POST or None, instance=remote)
    if request.method == "POST" and form.is_valid():
        fields = form.service_fields()
        fields.pop("name", None)
        try:
            remote_project_update(remote=remote, secret=form.cleaned_data["secret"], actor=request.user, **fields)
        except ServiceError as exc:
            form.add_error(exc.param if exc.param in form.fields else None, exc.message)
        else:
            messages.success(request, f"Remote project {remote.name} saved.")
            return redirect("agents_admin:remote_project_edit", remote_id=remote.pk)
    return render(request, "agents_admin/remote_project_form.html", _edit_context(remote, form))


def _edit_context(remote: RemoteProject, form: RemoteProjectForm, **extra: Any) -> dict[str, Any]:
    syncs = list(remote.syncs.all()[:RECENT_SYNCS])
    return {"form": form, "remote": remote, "syncs": syncs, "any_active": any(s.is_active for s in syncs), **extra}


@require_POST
@capability_required(MANAGE)
def remote_project_test_view(request: HtmxHttpRequest, remote_id: int) -> HttpResponse:
    remote = get_object_or_404(RemoteProject, pk=remote_id)
    try:
        result = {"ok": True, "message": remote_project_test(remote=remote, actor=request.user)}
    except ServiceError as exc:
        result = {"ok": False, "message": exc.message}
    context = _edit_context(remote, RemoteProjectForm(instance=remote), test_result=result)
    return render_page(request, "agents_admin/remote_project_form.html", context, partial="test_result")


@require_POST
@capability_required(MANAGE)
def remote_project_sync_view(request: HtmxHttpRequest, remote_id: int) -> HttpResponse:
    remote = get_object_or_404(RemoteProject, pk=remote_id)
    try:
        record = remote_sync_start(remote=remote, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        target = redirect("agents_admin:remote_project_edit", remote_id=remote.pk)
    else:
        target = redirect("agents_admin:remote_sync_detail", remote_id=remote.pk, sync_id=record.pk)
    return HttpResponseClientRedirect(target.url) if getattr(request, "htmx", False) else target


@require_GET
@capability_required(MANAGE)
def remote_project_syncs(request: HtmxHttpRequest, remote_id: int) -> HttpResponse:
    """The recent syncs table (polled while one is active)."""
    remote = get_object_or_404(RemoteProject, pk=remote_id)
    context = _edit_context(remote, RemoteProjectForm(instance=remote))
    return render_page(request, "agents_admin/remote_project_form.html", context, partial="syncs")


@require_GET
@capability_required(MANAGE)
def remote_sync_detail(request: HtmxHttpRequest, remote_id: int, sync_id: int) -> HttpResponse:
    record = get_object_or_404(
        SyncRecord.objects.select_related("remote_project"), pk=sync_id, remote_project_id=remote_id
    )
    return render_page(request, "agents_admin/remote_sync_detail.html", {"record": record}, partial="progress")


@require_GET
@capability_required(MANAGE)
def remote_project_export(request: HtmxHttpRequest, remote_id: int) -> HttpResponse:
    """The project as JSON Lines, read live from the remote and streamed (bounded memory, any size):
    ``?format=v2`` gives the v2 requests that import it (see services/remote_export.py). Audited as a download
    of conversation text."""
    remote = get_object_or_404(RemoteProject, pk=remote_id)
    fmt = request.GET.get("format", "classic")
    if fmt not in EXPORT_FORMATS:
        return HttpResponseBadRequest(f"format is one of: {', '.join(EXPORT_FORMATS)}.")
    export_read_record(action="export.remote", actor=request.user, fmt=fmt, request=request, remote_project=remote.name)
    lines = remote_project_export_stream(remote=remote, fmt=fmt)
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
    suffix = "-v2" if fmt == "v2" else ""
    response["Content-Disposition"] = f'attachment; filename="{remote.name}{suffix}.jsonl"'
    return response  # type: ignore[return-value]  # access.py's decorator types views as returning HttpResponse
