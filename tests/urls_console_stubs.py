"""The real URLconf, plus stand-ins for console pages that base.html links to but this branch does not serve.

Once the console's own routes are present the stand-ins are not added, so this is a no-op after the merge.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import URLResolver, include, path

from agents_admin import urls as app_urls
from agents_admin.views.access import signed_in
from dashboard.urls import urlpatterns as root_patterns

_NAV = ("home", "agent_list", "thread_list")


@signed_in
def _stub(request: HttpRequest) -> HttpResponse:
    return HttpResponse("stub")


_present = {p.name for p in app_urls.urlpatterns}
_stubs = [path(f"__stub__/{name}/", _stub, name=name) for name in _NAV if name not in _present]

urlpatterns = [p for p in root_patterns if not (isinstance(p, URLResolver) and p.namespace == "agents_admin")]
urlpatterns.append(path("", include((list(app_urls.urlpatterns) + _stubs, "agents_admin"))))
