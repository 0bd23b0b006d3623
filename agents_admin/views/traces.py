"""A run's trace: the waterfall (its own page, or a fragment the run panel and the transcript open), and the
whole trace as JSON."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from agents_admin.selectors.runs import run_get
from agents_admin.selectors.threads import thread_get
from agents_admin.selectors.traces import run_trace, trace_document
from agents_admin.services.audit import thread_view_record
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page, wants_partial

TRACE = "agents_admin/run_trace.html"


@require_GET
@capability_required("view_conversations")
def run_trace_view(request: HtmxHttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    """The trace's own page; an htmx request gets the waterfall alone (opened from the run panel or the
    transcript). Either carries what the model saw, so each is a recorded read of the conversation."""
    thread = thread_get(thread_id)
    run = run_get(thread, run_id)
    part = "trace" if wants_partial(request) else "trace_page"
    thread_view_record(thread=thread, actor=request.user, request=request, part=part, run=run.id)
    return render_page(request, TRACE, {"thread": thread, "run": run, "trace": run_trace(run)}, partial="trace")


@require_GET
@capability_required("view_conversations")
def run_trace_json(request: HtmxHttpRequest, thread_id: str, run_id: str) -> JsonResponse:
    """The whole trace as one JSON document ("Copy as JSON", and a download without JavaScript)."""
    thread = thread_get(thread_id)
    run = run_get(thread, run_id)
    thread_view_record(thread=thread, actor=request.user, request=request, part="trace_json", run=run.id)
    response = JsonResponse(trace_document(run), json_dumps_params={"indent": 2})
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="trace-{run.id}.json"'
    return response
