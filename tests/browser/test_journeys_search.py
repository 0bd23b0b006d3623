"""Browser journeys of a support reviewer: a search hit opens highlighted far back in a long thread; a trimmed
thread shows its banner; a deleted thread's URL says what happened to it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from agents_admin.models import Message
from agents_admin.services import retention
from tests.browser.conftest import axe_violations, screenshot
from tests.factories import make_thread
from tests.retention_helpers import make_aged_thread, make_policy

pytestmark = pytest.mark.browser


def test_a_hit_opens_highlighted_and_in_view_far_back_in_a_long_thread(signed_in: Any) -> None:
    page = signed_in
    thread = make_thread(messages=["My order never arrived"] + [f"update number {i}" for i in range(2, 161)])
    Message.objects.filter(thread=thread, seq=12).update(text="The parcel went by Zeppelin, they said", content=[])
    make_thread(messages=["A zeppelin flew over", "zeppelins again"])
    page.goto("/search/")
    page.get_by_label("Search messages").fill("zeppelin")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#search-results .hit-thread")
    expect(rows).to_have_count(2)
    row = rows.filter(has_text="My order never arrived")
    expect(row.locator(".hit-count")).to_have_text("1 hit")
    expect(row.locator(".snippet mark")).to_have_text("Zeppelin")
    expect(rows.filter(has_text="A zeppelin flew over").locator(".hit-count")).to_have_text("2 hits")
    screenshot(page, "search-by-thread")
    assert axe_violations(page) == []

    row.locator(".hit").get_by_role("link").click()
    hit = page.locator("article.msg-hit")
    expect(hit).to_have_count(1)
    expect(hit).to_contain_text("The parcel went by Zeppelin")
    expect(hit.locator("mark")).to_have_text("Zeppelin")
    expect(hit).to_be_in_viewport()
    # The window around the hit, not the latest page: the thread's last message is not shown, and later pages are a
    # click away.
    expect(page.locator("#history")).not_to_contain_text("update number 160")
    expect(page.get_by_role("link", name="Later messages")).to_be_visible()
    screenshot(page, "search-hit-opened")
    assert axe_violations(page) == []


def test_a_trimmed_thread_shows_its_banner_linking_to_the_purge_report(signed_in: Any) -> None:
    page = signed_in
    thread = make_aged_thread(days=40, messages=6)
    policy = make_policy(action="trim", keep_last_messages=2, name="Keep two", project=thread.project)
    report = retention.purge_execute(report_id=retention.purge_start(policy=policy, trigger="manual", enqueue=False).pk)
    assert report is not None and report.messages == 4
    page.goto(f"/threads/{thread.id}/")
    banner = page.get_by_role("note")
    expect(banner).to_contain_text("4 earlier messages removed by Keep two on")
    expect(page.locator("#history article")).to_have_count(2)
    screenshot(page, "thread-trimmed")
    assert axe_violations(page) == []
    banner.get_by_role("link", name="Keep two").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Purge #{report.pk}")


def test_a_deleted_threads_page_says_when_and_by_what_it_went(signed_in: Any) -> None:
    page = signed_in
    thread = make_thread(messages=["delete me"])
    page.goto(f"/threads/{thread.id}/delete/")
    page.get_by_role("button", name="Delete thread").click()
    expect(page.get_by_text(f"Thread {thread.id} deleted.")).to_be_visible()
    response = page.goto(f"/threads/{thread.id}/")
    assert response is not None and response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("This thread was deleted")
    expect(page.locator("main")).to_contain_text("from the console by admin")
    page.get_by_role("link", name="purge report").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Purge #")
