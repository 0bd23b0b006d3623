"""Run pages across threads: the "Needs action" inbox, every run waiting for tool outputs, newest first."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from agents_admin.selectors.runs import NEEDS_ACTION_COUNT_CAP, runs_needing_action, runs_needing_action_count
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page, wants_partial


@require_GET
# The inbox is for people who answer tool calls.
@capability_required("operate_runs")
def needs_action(request: HtmxHttpRequest) -> HttpResponse:
    if "count" in request.GET and wants_partial(request):
        # The main menu's live count, polled from every page: one capped count on the partial index.
        count = runs_needing_action_count(cap=NEEDS_ACTION_COUNT_CAP)
        label = f"{NEEDS_ACTION_COUNT_CAP}+" if count > NEEDS_ACTION_COUNT_CAP else str(count)
        return render_page(request, "agents_admin/needs_action.html", {"count": count, "label": label}, partial="count")
    page = runs_needing_action(before=request.GET.get("before") or None)
    return render_page(request, "agents_admin/needs_action.html", {"page": page}, partial="rows")
