"""Times read relative ("now", "3 minutes ago") with the absolute time in the browser's own time zone on hover;
without JavaScript the server's absolute UTC time, labelled UTC."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from agents_admin.models import UserProfile
from agents_admin.services.api_keys import api_key_create
from tests.browser.conftest import sign_in
from tests.factories import make_project

pytestmark = pytest.mark.browser


def test_times_are_relative_with_the_local_absolute_time_on_hover(
    browser: Any, live_server: Any, admin_user: User, admin_client: Client
) -> None:
    api_key_create(project=make_project("tokyo-team"), label="clock")
    html = admin_client.get("/settings/api-keys/").content.decode()
    assert " UTC</time>" in html  # the server's text, before any script runs
    context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Tokyo", locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page)
    page.goto("/settings/api-keys/")
    created = page.locator("time[data-when]").first
    assert errors == []
    assert created.inner_text() in ("now", "1 second ago") or "seconds ago" in created.inner_text()
    assert "GMT+9" in (created.get_attribute("title") or "")  # Tokyo, the browser's zone
    context.close()


def test_a_person_who_chose_a_time_zone_reads_times_in_it(browser: Any, live_server: Any, admin_user: User) -> None:
    api_key_create(project=make_project("ny-team"), label="clock")
    UserProfile.objects.create(user=admin_user, time_zone="America/New_York")
    context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Tokyo", locale="en-US")
    page = context.new_page()
    sign_in(page)
    page.goto("/settings/api-keys/")
    title = page.locator("time[data-when]").first.get_attribute("title") or ""
    assert "EST" in title or "EDT" in title or "GMT-5" in title or "GMT-4" in title  # New York, not the browser's
    page.goto("/account/time-zone/")
    page.get_by_label("Time zone").select_option("")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    page.goto("/settings/api-keys/")
    assert "GMT+9" in (page.locator("time[data-when]").first.get_attribute("title") or "")  # back to the browser's
    context.close()
