"""The thread page's transcript in a real browser: a run that failed shows where it happened, with its error, between
the message it answered and the next one; the same at a phone's width."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from agents_admin.models import Run
from agents_admin.services.threads import message_create
from tests.browser.conftest import axe_violations, screenshot
from tests.factories import make_agent, make_message, make_run, make_thread

pytestmark = pytest.mark.browser


def test_a_failed_run_shows_between_the_message_it_answered_and_the_next(signed_in: Any) -> None:
    page = signed_in
    agent = make_agent(name="Support bot")
    thread = make_thread(project=agent.project, messages=["Where is my parcel?"])
    error = {"code": "rate_limit_exceeded", "message": "The model endpoint answered 429: slow down."}
    # Each run ends in the transaction that made it: its task is sent on commit, and a worker left running by an
    # earlier test then finds it ended instead of answering it.
    with transaction.atomic():
        failed = make_run(thread=thread, agent=agent)
        Run.objects.filter(pk=failed.pk).update(status="failed", last_error=error, failed_at=timezone.now())
    make_message(thread, "Hello? Anyone there?")
    with transaction.atomic():
        answered = make_run(thread=thread, agent=agent)
        message_create(thread=thread, role="assistant", content="It left the depot this morning.", run=answered)
        Run.objects.filter(pk=answered.pk).update(status="completed", completed_at=timezone.now())
    page.goto(f"/threads/{thread.id}/")
    line = page.locator(f"#transcript-{failed.id}")
    expect(line).to_contain_text("Failed")
    expect(line).to_contain_text("rate_limit_exceeded")
    first = page.get_by_text("Where is my parcel?").bounding_box()
    second = page.get_by_text("Hello? Anyone there?").bounding_box()
    box = line.bounding_box()
    assert first["y"] < box["y"] < second["y"]  # on screen, where it happened
    panel = page.locator("#run-panel").bounding_box()
    reply = page.get_by_text("It left the depot this morning.").bounding_box()
    assert second["y"] < panel["y"] <= reply["y"]  # the latest run's panel after the message it answered
    assert axe_violations(page) == []
    screenshot(page, "thread-transcript")
    page.set_viewport_size({"width": 390, "height": 844})
    line.scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert axe_violations(page) == []
    screenshot(page, "thread-transcript-mobile")
