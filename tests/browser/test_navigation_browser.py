"""The main menu in a real browser: grouped, the current page marked, folded behind "Menu" on a phone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, screenshot

pytestmark = pytest.mark.browser


def test_the_menu_marks_the_current_page_and_folds_on_a_phone(signed_in: Any) -> None:
    page = signed_in
    page.goto("/threads/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Threads")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    screenshot(page, "navigation-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(nav).to_be_hidden()
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="API keys")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "navigation-mobile")
    assert axe_violations(page) == []
    nav.get_by_role("link", name="Agents").click()
    page.wait_for_url("**/agents/")
    expect(nav).to_be_hidden()
