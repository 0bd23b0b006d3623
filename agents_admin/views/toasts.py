"""Toasts for htmx region swaps: a full page shows the pending messages in base.html's #toasts; a response that
swaps one region (a note added in place, a polled panel) carries them as an out-of-band swap into #toasts, so a
change made in place is confirmed there and then, not on some later page."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from agents_admin.views.common import wants_partial


class HtmxToastsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not getattr(request, "htmx", False)
            or not wants_partial(request)  # type: ignore[arg-type]
            or response.status_code != 200
            or response.streaming
            or not response.get("Content-Type", "").startswith("text/html")
        ):
            return response
        pending = list(messages.get_messages(request))
        if pending:
            response.content += render_to_string("agents_admin/_toasts.html", {"toasts": pending, "oob": True}).encode()
        return response
