"""The main menu: grouped by job, the current page marked, only what the role may open, a live "Needs action" count."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from agents_admin.services.runs import run_execute
from tests.factories import WEATHER_TOOL, make_agent, make_run
from tests.personas import client_for, user_with_role

pytestmark = pytest.mark.django_db


def menu(html: str) -> str:
    match = re.search(r'<nav class="sidenav" id="site-nav" aria-label="Main">(.*?)</nav>', html, re.S)
    assert match, "the page has no main menu"
    return match.group(1)


def groups(html: str) -> dict[str, list[str]]:
    """Each group's heading and the link labels under it, in order."""
    found: dict[str, list[str]] = {}
    for name, body in re.findall(
        r'<p class="nav-group" id="nav-\w+">([\w ]+)</p>\s*<ul[^>]*>(.*?)</ul>', menu(html), re.S
    ):
        found[name] = re.findall(r"<a [^>]*>([^<]+)</a>", body)
    return found


def current_links(html: str) -> list[str]:
    return re.findall(r'<a href="[^"]*"[^>]* aria-current="page"[^>]*>([^<]+)</a>', menu(html))


def test_the_admin_sees_every_group_in_order(admin_client: Client) -> None:
    html = admin_client.get("/").content.decode()
    assert groups(html) == {
        "Work": ["Threads", "Search", "Review queue", "Needs action"],
        "Saved views": ["All views…"],
        "Build": ["Agents", "Vector stores"],
        "Govern": ["Usage", "Retention", "Audit"],
        "Settings": ["Connections", "Remote projects", "Model prices", "Users", "API keys"],
    }
    assert current_links(html) == ["Home"]


@pytest.mark.parametrize(
    ("url", "current"),
    [
        ("/threads/", "Threads"),
        ("/threads/new/", "Threads"),
        ("/search/", "Search"),
        ("/views/", "All views…"),
        ("/review/", "Review queue"),
        ("/review/queues/", "Review queue"),
        ("/runs/needs-action/", "Needs action"),
        ("/agents/", "Agents"),
        ("/vector-stores/", "Vector stores"),
        ("/usage/", "Usage"),
        ("/usage/prices/", "Model prices"),
        ("/agents/new/", "Agents"),
        ("/retention/", "Retention"),
        ("/retention/holds/", "Retention"),
        ("/audit/", "Audit"),
        ("/settings/connections/", "Connections"),
        ("/settings/remote-projects/", "Remote projects"),
        ("/settings/users/", "Users"),
        ("/settings/users/new/", "Users"),
        ("/settings/api-keys/", "API keys"),
    ],
)
def test_exactly_the_page_s_own_item_is_marked_current(admin_client: Client, url: str, current: str) -> None:
    response = admin_client.get(url)
    assert response.status_code == 200
    assert current_links(response.content.decode()) == [current]


def test_a_reviewer_sees_only_what_they_may_open() -> None:
    html = client_for(user_with_role("Reviewer")).get("/threads/").content.decode()
    shown = groups(html)
    assert "Build" not in shown and "Settings" not in shown
    assert shown["Work"] == ["Threads", "Search", "Review queue"] and shown["Saved views"] == ["All views…"]


def test_the_needs_action_count_is_live_and_capped(admin_client: Client) -> None:
    html = admin_client.get("/").content.decode()
    assert 'hx-get="/runs/needs-action/?count"' in menu(html) and 'hx-trigger="load, every 30s"' in menu(html)
    assert admin_client.get("/runs/needs-action/?count", HTTP_HX_REQUEST="true").content.decode().strip() == ""
    agent = make_agent(tools=[WEATHER_TOOL])
    for _ in range(2):
        run = make_run(agent=agent, text="/tool")
        run_execute(run_id=run.id)
    body = admin_client.get("/runs/needs-action/?count", HTTP_HX_REQUEST="true").content.decode()
    assert ">2<" in body and "2 runs waiting for tool outputs" in body


def test_the_count_stops_counting_at_its_cap(admin_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents_admin.views import runs as run_views

    agent = make_agent(tools=[WEATHER_TOOL])
    for _ in range(3):
        run_execute(run_id=make_run(agent=agent, text="/tool").id)
    monkeypatch.setattr(run_views, "NEEDS_ACTION_COUNT_CAP", 2)
    assert ">2+<" in admin_client.get("/runs/needs-action/?count", HTTP_HX_REQUEST="true").content.decode()


def test_the_count_is_refused_to_a_role_that_cannot_answer_tool_calls() -> None:
    reviewer = client_for(user_with_role("Reviewer"))
    assert reviewer.get("/runs/needs-action/?count", HTTP_HX_REQUEST="true").status_code == 403
