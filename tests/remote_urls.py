"""The real URLconf, plus stand-ins for console pages that base.html links to but this branch lacks.

Only names missing from agents_admin.urls get a stand-in, so once the console pages are merged this adds nothing.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import URLResolver, include, path

from agents_admin import urls as app_urls
from dashboard import urls as root_urls


def _stand_in(request: HttpRequest) -> HttpResponse:
    return HttpResponse("stand-in")


_names = {getattr(p, "name", None) for p in app_urls.urlpatterns}
_stand_ins = [
    path(f"__stand_in__/{n}/", _stand_in, name=n) for n in ("home", "agent_list", "thread_list") if n not in _names
]

urlpatterns = [
    p for p in root_urls.urlpatterns if not (isinstance(p, URLResolver) and p.namespace == "agents_admin")
] + [path("", include((list(app_urls.urlpatterns) + _stand_ins, "agents_admin")))]
