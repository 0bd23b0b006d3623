"""Template context every console page gets."""

from __future__ import annotations

import functools

from django.conf import settings
from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse

# The header's links: the same on every page, so reversed once per process (per script prefix and URLconf) instead
# of a dozen {% url %} lookups on each request.
NAV_VIEWS = (
    "home",
    "agent_list",
    "thread_list",
    "needs_action",
    "connection_list",
    "retention_policy_list",
    "search",
    "remote_project_list",
    "user_list",
    "audit_list",
    "api_keys",
    "jump",
)


@functools.lru_cache(maxsize=16)
def nav_urls(script_prefix: str, urlconf: str) -> dict[str, str]:
    urls = {name: reverse(f"agents_admin:{name}", urlconf=urlconf) for name in NAV_VIEWS}
    urls["logout"] = reverse("logout", urlconf=urlconf)
    return urls


def nav(request: HttpRequest) -> dict[str, dict[str, str]]:
    return {"nav": nav_urls(get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)}
