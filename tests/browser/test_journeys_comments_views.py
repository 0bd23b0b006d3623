"""Browser journeys of a reviewer's day: comment on one message in place (add, edit, delete confirmed) without the
page jumping, and save the Threads filters as a view, then open, rename and delete it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from agents_admin.models import Message, MessageComment, SavedView
from agents_admin.services.review import thread_flag_set
from tests.browser.conftest import axe_violations, screenshot
from tests.factories import make_thread

pytestmark = pytest.mark.browser


def test_comment_on_one_message_in_place_then_edit_and_delete_it(signed_in: Any) -> None:
    page = signed_in
    thread = make_thread(messages=[f"Message number {i}: " + "words " * 40 for i in range(1, 13)])
    target = Message.objects.get(thread=thread, seq=6)
    page.goto(f"/threads/{thread.id}/")
    region = page.locator(f"#comments-{target.id}")
    region.get_by_text("Comment on this message").click()
    region.scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    assert before > 0  # the message is below the fold, so a jump would show
    region.get_by_label("Comment on message #6").fill("The refund amount quoted here is wrong.")
    region.get_by_role("button", name="Add comment").click()
    comment = page.locator(f"#comments-{target.id} .comment")
    expect(comment).to_contain_text("The refund amount quoted here is wrong.")
    expect(comment).to_contain_text("admin")
    assert page.evaluate("window.scrollY") == before  # swapped in place: no reload, no jump
    assert f"/threads/{thread.id}/" in page.url and MessageComment.objects.get().message_id == target.id
    # Only that message has it.
    expect(page.locator(".msg-comments .comment")).to_have_count(1)
    screenshot(page, "message-comment")
    assert axe_violations(page) == []

    comment.get_by_role("link", name="Edit").click()
    editor = page.get_by_label("Your comment")
    expect(editor).to_be_focused()
    editor.fill("The refund amount quoted here is wrong: it should be 40 EUR.")
    page.get_by_role("button", name="Save comment").click()
    expect(comment).to_contain_text("it should be 40 EUR")
    expect(comment).to_contain_text("edited")

    comment.get_by_role("link", name="Delete").click()
    expect(page.locator(f"#comments-{target.id}")).to_contain_text("This cannot be undone")
    page.get_by_role("button", name="Delete comment").click()
    expect(page.locator(f"#comments-{target.id} .comment")).to_have_count(0)
    assert not MessageComment.objects.exists()
    assert page.evaluate("window.scrollY") == before


def test_save_the_filters_as_a_view_then_open_rename_and_delete_it(signed_in: Any) -> None:
    page = signed_in
    escalated, calm = make_thread(messages=["Angry customer"]), make_thread(messages=["Happy customer"])
    thread_flag_set(thread=escalated, name="escalated", on=True, actor=None)
    page.goto("/threads/")
    page.get_by_label("Flag or tag").fill("escalated")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#thread-results")).not_to_contain_text(calm.id)
    page.get_by_text("Save as a view", exact=True).click()
    page.get_by_label("Name", exact=True).fill("Escalations")
    page.get_by_label("Shared with everyone").check()
    page.get_by_role("button", name="Save view").click()
    expect(
        page.get_by_role("navigation", name="Saved views").get_by_role("link", name="Escalations")
    ).to_have_attribute("aria-current", "page")
    view = SavedView.objects.get()
    assert view.params == {"flag": "escalated"} and view.shared

    page.goto("/threads/")
    expect(page.locator("#thread-results")).to_contain_text(calm.id)
    page.get_by_role("navigation", name="Saved views").get_by_role("link", name="Escalations").click()
    expect(page.locator("#thread-results")).to_contain_text(escalated.id)
    expect(page.locator("#thread-results")).not_to_contain_text(calm.id)
    expect(page.get_by_label("Flag or tag")).to_have_value("escalated")
    screenshot(page, "saved-views")
    assert axe_violations(page) == []

    page.get_by_role("link", name="Manage views").click()
    page.get_by_role("link", name="Rename").click()
    page.get_by_label("Name").fill("Escalated threads")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("table")).to_contain_text("Escalated threads")
    page.get_by_role("link", name="Delete").click()
    expect(page.locator("#confirm")).to_contain_text("It is shared")
    page.get_by_role("button", name="Delete view").click()
    expect(page.locator(".empty")).to_contain_text("No saved views yet")
    assert not SavedView.objects.exists()
