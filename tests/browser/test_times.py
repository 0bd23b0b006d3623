"""Times read relative ("now", "3 minutes ago") with the absolute time in the browser's own time zone on hover;
without JavaScript the server's absolute UTC time, labelled UTC."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from agents_admin.services.api_keys import api_key_create
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
    page.goto("/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("admin-pass-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    page.goto("/settings/api-keys/")
    created = page.locator("time[data-when]").first
    assert errors == []
    assert created.inner_text() in ("now", "1 second ago") or "seconds ago" in created.inner_text()
    assert "GMT+9" in (created.get_attribute("title") or "")  # Tokyo, the browser's zone
    context.close()
