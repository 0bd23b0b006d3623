"""Stand-ins for the console branch's pages, so base.html's links resolve on this branch.

DELETE this module and its block in agents_admin/urls.py when the console branch is merged.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET


@require_GET
@login_required
def placeholder(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return HttpResponse("This page comes with the console branch.", content_type="text/plain")
