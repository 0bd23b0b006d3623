"""Run pages across threads: the "Needs action" inbox, every run waiting for tool outputs, newest first."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from agents_admin.selectors.runs import runs_needing_action
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page


@require_GET
# The inbox is for people who answer tool calls.
@capability_required("operate_runs")
def needs_action(request: HtmxHttpRequest) -> HttpResponse:
    page = runs_needing_action(before=request.GET.get("before") or None)
    return render_page(request, "agents_admin/needs_action.html", {"page": page}, partial="rows")
