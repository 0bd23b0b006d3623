"""agents_admin/links.py: URLs reversed once per process are the URLs reverse() gives."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse, set_script_prefix
from django.urls.converters import IntConverter

from agents_admin import links


def _console_routes() -> list[tuple[str, list[str]]]:
    """Every named console route, with arguments its converters take (ids for text, numbers for <int:…>)."""
    [console] = [p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and p.namespace == "agents_admin"]
    routes = []
    for pattern in console.url_patterns:
        if isinstance(pattern, URLPattern) and pattern.name:
            converters = pattern.pattern.converters.values()
            args = [str(7 + i) if isinstance(c, IntConverter) else f"obj_Ab-{i}_z" for i, c in enumerate(converters)]
            routes.append((f"agents_admin:{pattern.name}", args))
    return routes


def test_every_console_route_gives_the_url_reverse_gives() -> None:
    routes = _console_routes()
    assert len(routes) > 40 and ("agents_admin:run_panel", ["obj_Ab-0_z", "obj_Ab-1_z"]) in routes
    for name, args in routes:
        assert links.url(name, *args) == reverse(name, args=args), name


def test_arguments_reverse_would_change_or_refuse_go_through_reverse() -> None:
    assert links.url("agents_admin:thread_detail", "a b") == reverse("agents_admin:thread_detail", args=["a b"])
    assert links.url("agents_admin:thread_detail", "é") == "/threads/%C3%A9/"
    with pytest.raises(NoReverseMatch):
        links.url("agents_admin:thread_detail", "a/b")
    with pytest.raises(NoReverseMatch):
        links.url("agents_admin:export_job", "not-a-number")


def test_the_script_prefix_is_honoured_when_it_changes() -> None:
    try:
        set_script_prefix("/console/")
        assert links.url("agents_admin:thread_notes", "thread_1") == "/console/threads/thread_1/notes/"
    finally:
        set_script_prefix("/")
    assert links.url("agents_admin:thread_notes", "thread_1") == "/threads/thread_1/notes/"


def test_the_link_tag_writes_and_assigns_like_the_url_tag() -> None:
    template = Template(
        "{% load console %}{% link 'agents_admin:run_panel' t r %}|{% link 'agents_admin:thread_list' as u %}{{ u }}"
    )
    assert template.render(Context({"t": "thread_9", "r": "run_8"})) == "/threads/thread_9/runs/run_8/|/threads/"
