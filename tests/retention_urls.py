"""URLconf for console tests on this branch: the real one, plus placeholders for the nav links that base.html
names but other branches add (home, agents, threads). Once those exist, nothing is added."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from agents_admin import urls as app_urls
from dashboard import urls as project_urls

NAV_NAMES = ("home", "agent_list", "thread_list")


def placeholder(request: HttpRequest) -> HttpResponse:
    return HttpResponse("placeholder")


present = {getattr(p, "name", None) for p in app_urls.urlpatterns}
stubs = [path(f"_placeholder/{name}/", placeholder, name=name) for name in NAV_NAMES if name not in present]
urlpatterns = [p for p in project_urls.urlpatterns if getattr(p, "app_name", None) != "agents_admin"] + [
    path("", include((list(app_urls.urlpatterns) + stubs, "agents_admin"))),
]
