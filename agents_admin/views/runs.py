"""Run pages across threads: the "Needs action" inbox, every run waiting for tool outputs, newest first."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents_admin.selectors.runs import runs_needing_action
from agents_admin.views.access import capability_required


@require_GET
# The inbox is for people who answer tool calls.
@capability_required("operate_runs")
def needs_action(request: HttpRequest) -> HttpResponse:
    page = runs_needing_action(before=request.GET.get("before") or None)
    htmx = getattr(request, "htmx", None)
    partial = bool(htmx) and not htmx.history_restore_request  # type: ignore[union-attr]
    template = "agents_admin/needs_action.html" + ("#rows" if partial else "")
    return render(request, template, {"page": page})
