"""Helpers shared by the console views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

from agents_admin.forms.confirm import ConfirmForm


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def wants_partial(request: HtmxHttpRequest) -> bool:
    """An htmx request for a region: not a boosted navigation and not a history restore (those need a page)."""
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


def render_page(
    request: HtmxHttpRequest, template: str, context: dict[str, Any], *, partial: str, status: int = 200
) -> HttpResponse:
    """The full page for normal navigation, only ``template#partial`` for an htmx region request."""
    name = f"{template}#{partial}" if wants_partial(request) else template
    return render(request, name, context, status=status)


@dataclass
class Confirmation:
    """What a confirmation page says: the action, its effects with counts, and the button that does it."""

    title: str
    effects: list[str]
    button: str
    action: str
    cancel: str
    form: ConfirmForm
    hidden: dict[str, str] = field(default_factory=dict)
    note: str = ""
    error: str = ""


def confirmed(request: HttpRequest, form: ConfirmForm) -> bool:
    """Whether this POST carries a valid confirmation token; the first POST (from a list's button) does not."""
    return request.method == "POST" and form.is_valid()


def render_confirm(request: HtmxHttpRequest, confirmation: Confirmation, *, status: int = 200) -> HttpResponse:
    """The confirmation page (or its fragment for htmx), with a fresh token; an invalid one says why."""
    form = confirmation.form
    if form.is_bound and form.data.get("confirm") and form.errors:
        confirmation.error = " ".join(form.errors.get("confirm", []))
    confirmation.form = form.fresh() if form.is_bound else form
    return render_page(
        request, "agents_admin/confirm.html", {"confirm": confirmation}, partial="confirm", status=status
    )
