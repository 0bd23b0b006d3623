"""Settings > API keys in a real browser: create a key (shown once), use it, revoke it; no serious a11y issues."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from agents_admin.services.api_keys import api_key_authenticate
from tests.browser.conftest import axe_violations, screenshot

pytestmark = pytest.mark.browser


def test_an_admin_creates_and_revokes_a_key(signed_in: Any) -> None:
    page = signed_in
    page.goto("/settings/api-keys/")
    page.get_by_label("Label").fill("browser test")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key").inner_text().strip()
    assert secret.startswith("aak_") and api_key_authenticate(secret=secret) is not None
    screenshot(page, "api-keys")
    assert axe_violations(page) == []
    page.goto("/settings/api-keys/")
    assert secret not in page.content() and "browser test" in page.content()
    page.get_by_role("button", name="Revoke").click()
    # The first click asks, saying what revoking does; only the second revokes.
    expect(page.get_by_role("heading", name="Revoke key")).to_be_visible()
    expect(page.locator("#confirm")).to_contain_text("401")
    assert api_key_authenticate(secret=secret) is not None
    assert axe_violations(page) == []
    page.get_by_role("button", name="Revoke key").click()
    page.wait_for_url("**/settings/api-keys/")
    assert "revoked" in page.locator("main").inner_text()
    assert api_key_authenticate(secret=secret) is None
