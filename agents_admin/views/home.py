from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from agents_admin.selectors.home import home_stats, runs_recent
from agents_admin.selectors.runs import runs_any_active
from agents_admin.selectors.usage import usage_glance
from agents_admin.views.access import signed_in
from agents_admin.views.common import HtmxHttpRequest, render_page, wants_partial
from agents_admin.views.usage import usage_payload

HOME = "agents_admin/home.html"


@require_GET
@signed_in
def home(request: HtmxHttpRequest) -> HttpResponse:
    if wants_partial(request) and request.GET.get("part") == "usage":
        # The usage glance polls itself while runs are active, so its numbers move with them.
        context = _glance()
        response = render_page(request, HOME, context, partial="usage")
        return response if context["glance"].active else HttpResponseStopPolling(response.content)
    runs = runs_recent()
    context = {"runs": runs, "polling": runs_any_active(runs)}
    if not wants_partial(request):
        context.update(home_stats())
        context.update(_glance())
    response = render_page(request, HOME, context, partial="runs")
    if wants_partial(request) and not context["polling"]:
        # The recent-runs region polls itself; once nothing is active, htmx is told to stop (286).
        return HttpResponseStopPolling(response.content)
    return response


def _glance() -> dict[str, object]:
    """The last 24 hours: finished runs from the usage rollups plus the runs active now, one set of numbers for
    the tiles, the status counts and the chart."""
    glance = usage_glance()
    payload = usage_payload(glance.report)
    return {
        "glance": glance,
        "runs_by_status": glance.by_status,
        "runs_24h": glance.runs,
        "payload": payload,
        "payload_json": json.dumps(payload, cls=DjangoJSONEncoder),
    }
