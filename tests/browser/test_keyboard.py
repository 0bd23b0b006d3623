"""Keyboard navigation in a real browser: Ctrl/Cmd-K palette, "/" to search, "g" shortcuts, the "?" overlay."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, screenshot

pytestmark = pytest.mark.browser


def focused_in(page: Any, selector: str) -> bool:
    return page.evaluate("(s) => document.activeElement.closest(s) !== null", selector)


def test_g_shortcuts_go_to_pages_and_the_help_overlay_lists_them(signed_in: Any) -> None:
    page = signed_in
    page.goto("/")
    page.keyboard.press("g")
    page.keyboard.press("t")
    page.wait_for_url("**/threads/")
    page.keyboard.press("g")
    page.keyboard.press("a")
    page.wait_for_url("**/agents/")
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    for label in ("Threads", "Search", "Review queue", "Agents", "Usage", "API keys"):
        expect(help_dialog.locator("dd", has_text=label).first).to_be_visible()
    expect(help_dialog.locator("dt", has_text="g t")).to_have_count(1)
    assert axe_violations(page) == []
    screenshot(page, "keyboard-help")
    for _ in range(6):  # focus stays inside the dialog
        page.keyboard.press("Tab")
        assert focused_in(page, "#keys-help")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()


def test_shortcuts_do_not_fire_while_typing_and_slash_focuses_search(signed_in: Any) -> None:
    page = signed_in
    page.goto("/threads/")
    page.keyboard.press("/")
    box = page.locator("main form.filters input[type=text], main form.filters input:not([type])").first
    expect(box).to_be_focused()
    page.keyboard.type("g a ?")
    expect(box).to_have_value("g a ?")
    assert page.url.endswith("/threads/")
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.goto("/")
    page.keyboard.press("/")
    expect(page.get_by_label("Id to jump to")).to_be_focused()  # no search box on Home: the "jump to id" box


def test_the_palette_filters_pages_and_goes_with_enter(signed_in: Any) -> None:
    page = signed_in
    page.goto("/")
    opener = page.get_by_role("link", name="Home")
    opener.focus()
    page.keyboard.press("Control+k")
    palette = page.get_by_role("dialog", name="Go to")
    expect(palette).to_be_visible()
    box = palette.get_by_role("combobox")
    expect(box).to_be_focused()
    box.type("usag")
    options = palette.get_by_role("option")
    expect(options.first).to_contain_text("Usage")
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(palette.get_by_role("option", name="Search messages for “usag”")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "command-palette")
    page.keyboard.press("Escape")
    expect(palette).to_be_hidden()
    expect(opener).to_be_focused()  # focus goes back where it was
    page.keyboard.press("Meta+k")
    box.type("thread_nope")
    expect(palette.get_by_role("option").first).to_have_text("Go to thread_nopeJump to id")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+k")
    box.type("keys")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    page.wait_for_url("**/settings/api-keys/")
