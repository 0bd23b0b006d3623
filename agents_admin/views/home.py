from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from agents_admin.selectors.home import home_stats, runs_recent
from agents_admin.selectors.runs import runs_any_active
from agents_admin.views.access import signed_in
from agents_admin.views.common import HtmxHttpRequest, render_page, wants_partial


@require_GET
@signed_in
def home(request: HtmxHttpRequest) -> HttpResponse:
    runs = runs_recent()
    context = {"runs": runs, "polling": runs_any_active(runs)}
    if not wants_partial(request):
        context.update(home_stats())
    response = render_page(request, "agents_admin/home.html", context, partial="runs")
    if wants_partial(request) and not context["polling"]:
        # The recent-runs region polls itself; once nothing is active, htmx is told to stop (286).
        return HttpResponseStopPolling(response.content)
    return response
