from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import axe_violations, screenshot

pytestmark = pytest.mark.browser


def test_a_wrong_password_shows_an_error_and_the_right_one_signs_in(page: Any, admin_user: Any) -> None:
    page.goto("/login/")
    assert axe_violations(page) == []
    screenshot(page, "sign-in")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    page.get_by_label("Password").fill("admin-pass-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    assert page.get_by_role("button", name="Sign out").is_visible()
