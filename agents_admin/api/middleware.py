"""Under /api/, turn whatever error Django or another middleware produced into the API's JSON error shape."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from agents_admin.api.errors import error_response

logger = logging.getLogger(__name__)

_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


class ApiJsonErrorsMiddleware:
    """Django's own error pages (disallowed host, CSRF, 404 from the resolver, a crash in a middleware) are
    HTML; the Azure SDK cannot parse those. This replaces any non-JSON error response under /api/."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        status = response.status_code
        message = "The server failed to handle the request." if status >= 500 else "The request was refused."
        if status == 404:
            message = "No such route."
        return error_response(status, _CODES.get(status, "server_error" if status >= 500 else "error"), message)
