"""Browser journeys of review queues: an admin defines a queue with a rubric; a reviewer works through three items
by keyboard only; the scores show in the queue's table and CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agents_admin.models import ReviewQueue
from agents_admin.roles import REVIEWER
from agents_admin.services.review_queues import review_intake_due
from tests.browser.conftest import axe_violations, screenshot
from tests.factories import make_thread
from tests.personas import user_with_role

pytestmark = pytest.mark.browser


def test_admin_defines_a_queue_and_a_reviewer_scores_three_threads_by_keyboard(
    signed_in: Any, browser: Any, live_server: Any
) -> None:
    reviewer = user_with_role(REVIEWER, "rita")
    reviewer.set_password("rita-pass-123")
    reviewer.save()
    texts = ["My parcel never arrived", "I was charged twice", "How do I reset my password?"]
    for text in texts:
        make_thread(messages=[text])

    # The admin defines the queue: every thread, backfilled, reviewed by Rita, with a two-field rubric.
    page = signed_in
    page.goto("/review/queues/new/")
    page.get_by_label("Name").fill("Support quality")
    page.get_by_label("Backfill: existing threads too, oldest first").check()
    page.get_by_label("rita").check()
    page.get_by_label("Rubric").fill("Resolved? | yes_no | required\nHelpfulness | scale | required\nComment | text")
    screenshot(page, "review-queue-form")
    page.get_by_role("button", name="Create queue").click()
    expect(page.get_by_role("heading", name="Support quality")).to_be_visible()
    queue = ReviewQueue.objects.get(name="Support quality")
    assert [f["kind"] for f in queue.rubric] == ["yes_no", "scale", "text"]
    # What the beat task does every minute.
    review_intake_due(now=timezone.now() + timedelta(hours=1))

    # Rita works through the queue with the keyboard only: 1 = yes, 4 = helpfulness 4, Enter = submit and next.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, bypass_csp=True)
    rita = context.new_page()
    errors: list[str] = []
    rita.on("pageerror", lambda exc: errors.append(str(exc)))
    rita.goto("/login/")
    rita.get_by_label("Username").fill("rita")
    rita.get_by_label("Password").fill("rita-pass-123")
    rita.get_by_role("button", name="Sign in").click()
    rita.goto("/review/")
    expect(rita.locator("td.waiting")).to_have_text("3")
    rita.get_by_role("link", name="Next item").click()
    seen = []
    for n in range(3):
        expect(rita.locator("#rubric")).to_be_visible()
        seen.append(rita.locator("#history .msg").first.inner_text())
        if n == 0:
            screenshot(rita, "review-item")
            assert axe_violations(rita) == []
        rita.keyboard.press("1" if n != 1 else "2")  # Resolved?: yes, no, yes
        expect(rita.locator("fieldset.active legend")).to_contain_text("Helpfulness")
        rita.keyboard.press(str(3 + n))
        rita.keyboard.press("Enter")
        rita.wait_for_url(lambda url: "/items/" in url or url.endswith("/review/"))
    expect(rita.locator("#toasts")).to_contain_text("Nothing left for you")
    assert all(any(text in shown for text in texts) for shown in seen)
    context.close()
    assert not errors, errors

    # The scores are in the queue's table and CSV.
    page.goto(f"/review/queues/{queue.pk}/")
    rows = page.locator("#queue-results tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#queue-results")).to_contain_text("rita")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted((r["resolved"], r["helpfulness"]) for r in table) == [("no", "4"), ("yes", "3"), ("yes", "5")]
    assert {r["reviewer"] for r in table} == {"rita"}
