"""The thread page's composer: "Send and run" adds the message and runs the chosen agent in place, with no jump
to the top, the agent remembered, and the run buttons disabled while the run is active and back when it ends."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from agents_admin.models import Run
from tests.browser.conftest import screenshot
from tests.conftest import Worker
from tests.factories import make_agent, make_thread

pytestmark = pytest.mark.browser


def test_send_and_run_keeps_the_scroll_position_and_the_agent(signed_in: Any, celery_worker: Worker) -> None:
    page = signed_in
    first = make_agent(name="Alpha")
    second = make_agent(name="Beta", project=first.project)
    thread = make_thread(project=first.project, messages=[f"earlier message {n}" for n in range(30)])
    page.goto(f"/threads/{thread.id}/")
    composer = page.locator(".composer")
    composer.get_by_label("Agent").select_option(label="Beta")
    composer.get_by_role("textbox", name="Message").fill("Hello Beta /slow")
    composer.get_by_role("button", name="Send and run").scroll_into_view_if_needed()
    top = "document.querySelector('.composer').getBoundingClientRect().top"
    assert page.evaluate("window.scrollY") > 200  # the composer sits below a long history
    before = page.evaluate(top)
    page.evaluate("window.__noReload = true")
    composer.get_by_role("button", name="Send and run").click()
    expect(page.locator("#history")).to_contain_text("Hello Beta")
    # While the run is active the run buttons are disabled.
    expect(page.locator(".composer").get_by_role("button", name="Send and run")).to_be_disabled()
    # No jump to the top: the composer stays where it was on screen (the new message grows the page above it).
    after = page.evaluate(top)
    assert page.evaluate("window.scrollY") > 200 and abs(after - before) < 120, (before, after)
    assert page.evaluate("window.__noReload") is True  # swapped in place, no page load
    expect(page.locator(".composer").get_by_label("Agent")).to_have_value(second.id)
    run = Run.objects.get(thread=thread)
    assert run.agent_id == second.id
    screenshot(page, "thread-composer")
    # When the run ends the buttons come back in place, with no reload.
    expect(page.locator(".composer").get_by_role("button", name="Send and run")).to_be_enabled(timeout=30_000)
    expect(page.get_by_role("button", name="Start run")).to_be_enabled()
    assert page.evaluate("window.__noReload") is True
    page.reload()
    expect(page.locator(".composer").get_by_label("Agent")).to_have_value(second.id)  # remembered
