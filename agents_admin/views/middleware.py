"""Console middleware.

- NUL characters: PostgreSQL cannot compare text with a NUL in it (the query fails), so such a path is answered 404
  and such a query string 400 before any view runs.
- Account checks on signed-in sessions: idle sign-out and a pending forced password change.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound, HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from agents_admin.services.accounts import account_password_change_pending, account_session_idle


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


class AccountMiddleware:
    """Two checks on every signed-in console request (API keys never have a session, so the API is untouched):

    - idle sign-out: after ``SESSION_IDLE_TIMEOUT`` seconds without activity the session ends and the person signs
      in again, brought back to where they were. Activity is a page load, a boosted navigation or any form
      submission; an htmx GET (a poll, a lazy pane, an "earlier messages" page) is not, so a tab left open on a
      live page still ends;
    - a pending forced password change (a one-time password an admin handed over): every page leads to the
      change-password page until it is done; signing out stays possible.
    """

    # Reachable while a password change is pending: the page itself, signing out, and static files.
    EXEMPT_PREFIXES = ("/account/password/", "/logout/", "/static/", "/healthz")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info  # without the script prefix the console may be mounted under
        if path.startswith("/api/") or not request.user.is_authenticated:
            return self.get_response(request)
        if account_session_idle(request=request, timeout=settings.SESSION_IDLE_TIMEOUT, activity=_is_activity(request)):
            logout(request)
            messages.info(request, "You were signed out after a while without activity. Sign in again to go on.")
            return _redirect(request, f"{reverse('login')}?{urlencode({'next': _page_url(request)})}")
        if not path.startswith(self.EXEMPT_PREFIXES) and account_password_change_pending(request=request):
            target = reverse("agents_admin:password_change")
            if urlsplit(request.headers.get("HX-Current-URL", "")).path == target:
                # The menu's polls on the change-password page itself: answered with nothing, not a reload loop.
                return HttpResponse(status=204)
            return _redirect(request, target)
        return self.get_response(request)


def _page_url(request: HttpRequest) -> str:
    """Where to come back to after signing in again: the page, also when an htmx poll or pane noticed the timeout
    (its own URL is a fragment, not a page)."""
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    if current.path and current.netloc == request.get_host():
        return current.path + (f"?{current.query}" if current.query else "")
    return request.get_full_path()


def _is_activity(request: HttpRequest) -> bool:
    if request.method != "GET":
        return True
    htmx = request.headers.get("HX-Request") == "true"
    return not htmx or request.headers.get("HX-Boosted") == "true"


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect the browser follows as a page: htmx would otherwise swap the target page into a region."""
    if request.headers.get("HX-Request") == "true":
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)
