"""The main journeys in a real browser, against the live app and a real Celery worker."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from agents_admin.roles import roles_sync
from tests.browser.conftest import axe_violations, screenshot
from tests.conftest import Worker
from tests.factories import WEATHER_TOOL, make_agent, make_thread

pytestmark = pytest.mark.browser


def _open_thread_with_message(page: Any, text: str) -> None:
    page.goto("/threads/new/")
    page.get_by_role("button", name="Create thread").click()
    page.wait_for_url("**/threads/thread_*/")
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#history")).to_contain_text(text)


def _statuses_until(page: Any, final: str, timeout: float = 30.0) -> list[str]:
    """Every distinct status the run panel's badge shows, in order, until it shows ``final``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        badge = page.locator("#run-panel .run-head .badge").first
        text = (badge.get_attribute("data-status") or "") if badge.count() else ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if text == final:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the run panel never showed {final}; saw {seen}")


def test_create_an_agent_then_run_it_and_watch_the_reply_arrive_live(signed_in: Any, celery_worker: Worker) -> None:
    page = signed_in
    screenshot(page, "home")
    page.goto("/agents/new/")
    page.get_by_label("Name").fill("Browser agent")
    page.get_by_label("Model").fill("gpt-4o")
    page.get_by_label("Tools").fill('[{"type": "function"}]')
    page.get_by_role("button", name="Create agent").click()
    expect(page.locator("#id_tools_error")).to_contain_text("function")
    screenshot(page, "agent-form-error")
    assert axe_violations(page) == []
    page.get_by_label("Tools").fill(json.dumps([WEATHER_TOOL]))
    page.get_by_role("button", name="Create agent").click()
    expect(page.locator(".toast")).to_contain_text("created")
    page.goto("/agents/")
    expect(page.get_by_role("link", name="Browser agent")).to_be_visible()
    screenshot(page, "agents")

    _open_thread_with_message(page, "Hello from the browser /slow")
    page.evaluate("window.__noReload = true")
    page.get_by_role("button", name="Start run").click()
    seen = _statuses_until(page, "completed")
    assert "in_progress" in seen and seen[-1] == "completed", seen
    expect(page.locator("#run-panel")).to_contain_text("Hello from the browser")
    expect(page.locator("#run-panel")).to_contain_text("Total tokens")
    assert page.evaluate("window.__noReload") is True  # the reply arrived without a page load
    screenshot(page, "thread")
    assert axe_violations(page) == []


def test_cancel_a_slow_run(signed_in: Any, celery_worker: Worker) -> None:
    page = signed_in
    make_agent(name="Canceller")
    _open_thread_with_message(page, "take your time /slow")
    page.get_by_role("button", name="Start run").click()
    _statuses_until(page, "in_progress")
    page.get_by_role("button", name="Cancel run").click()
    _statuses_until(page, "cancelled")


def test_submit_a_tool_output_and_the_run_continues(signed_in: Any, celery_worker: Worker) -> None:
    page = signed_in
    make_agent(name="Weather", tools=[WEATHER_TOOL])
    _open_thread_with_message(page, '/tool get_weather {"city": "Paris"}')
    page.get_by_role("button", name="Start run").click()
    output = page.get_by_label("Output of get_weather")
    expect(output).to_be_visible(timeout=20_000)
    screenshot(page, "tool-outputs")
    output.fill("22C and sunny")
    page.get_by_role("button", name="Submit tool outputs").click()
    _statuses_until(page, "completed")
    expect(page.locator("#run-panel")).to_contain_text("22C and sunny")


def test_a_reviewer_sees_no_edit_controls_and_gets_403_on_editing_pages(page: Any, db: None) -> None:
    roles_sync()
    reviewer = User.objects.create_user("rita", password="reviewer-pass-1")
    reviewer.groups.add(Group.objects.get(name="Reviewer"))
    thread = make_thread(messages=["a customer question"])
    page.goto("/login/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("reviewer-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    page.goto(f"/threads/{thread.id}/")
    expect(page.locator("#history")).to_contain_text("a customer question")
    # No edit controls: no composer, no run start, no delete link, no agents in the menu.
    for name in ("Send", "Send and run", "Start run"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents")).to_have_count(0)
    screenshot(page, "reviewer-thread")
    for url in ("/agents/new/", "/agents/", f"/threads/{thread.id}/delete/"):
        response = page.goto(url)
        assert response is not None and response.status == 403, url
