"""Browser journeys of support review and retention: search, export, dry run then purge with progress."""

from __future__ import annotations

import datetime
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agents_admin.models import Thread
from agents_admin.services import retention
from tests.browser.conftest import axe_violations, screenshot
from tests.conftest import Worker
from tests.factories import make_thread

pytestmark = pytest.mark.browser


def test_search_and_open_the_matching_message(signed_in: Any) -> None:
    page = signed_in
    make_thread(messages=["Where is my parcel?", "I would like a refund for order 1234"])
    make_thread(messages=["Please change my delivery address"])
    page.goto("/search/")
    page.get_by_label("Search messages").fill("refund")
    page.get_by_role("button", name="Search").click()
    hit = page.locator("#search-results .hit")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text("refund")
    assert "q=refund" in page.url  # the search state lives in the URL, so it can be shared
    screenshot(page, "search")
    assert axe_violations(page) == []
    hit.get_by_role("link").click()
    expect(page.locator("#history")).to_contain_text("I would like a refund for order 1234")


def test_export_a_thread_as_json_lines(signed_in: Any) -> None:
    page = signed_in
    thread = make_thread(messages=["first", "second"])
    page.goto(f"/threads/{thread.id}/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="JSON Lines").click()
    text = Path(download_info.value.path()).read_text()
    lines = [json.loads(line) for line in text.splitlines() if line]
    assert [line["text"] for line in lines if "text" in line] == ["first", "second"]


def test_retention_dry_run_then_run_now_with_progress(signed_in: Any, celery_worker: Worker) -> None:
    page = signed_in
    stale = make_thread(messages=["old conversation"])
    fresh = make_thread(messages=["new conversation"])
    Thread.objects.filter(pk=stale.pk).update(last_activity_at=timezone.now() - timedelta(days=120))
    policy = retention.policy_save(
        policy=None, actor=None, name="Ninety days", project=None, days=90, daily_at=datetime.time(3, 0)
    )
    page.goto(f"/retention/policies/{policy.pk}/")
    page.get_by_role("button", name="Dry run").click()
    progress = page.locator("#report-progress")
    expect(progress).to_contain_text("completed", timeout=20_000)
    expect(progress.locator("progress")).to_have_attribute("value", "100")
    expect(progress).to_contain_text(stale.id)
    screenshot(page, "retention-dry-run")
    assert Thread.objects.filter(pk=stale.pk).exists()  # a dry run deletes nothing

    page.goto(f"/retention/policies/{policy.pk}/")
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#report-progress")).to_contain_text("completed", timeout=20_000)
    assert not Thread.objects.filter(pk=stale.pk).exists()
    assert Thread.objects.filter(pk=fresh.pk).exists()
