"""Console requests carrying NUL characters: PostgreSQL cannot compare text with a NUL in it (the query fails), so
such a path is answered 404 and such a query string 400 before any view runs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound


class RefuseNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            return self.get_response(request)  # the API answers these itself, as JSON naming the parameter
        if "\x00" in request.path:
            return HttpResponseNotFound("No such page: paths never contain NUL characters.", content_type="text/plain")
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return HttpResponseBadRequest(
                    f"The query parameter {name!r} contains a NUL character.", content_type="text/plain"
                )
        return self.get_response(request)
