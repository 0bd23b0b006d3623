"""Accounts in a real browser: the forced change of a one-time password at first sign-in, and setting up the
second factor then signing in with a code computed from the secret the page showed."""

from __future__ import annotations

from typing import Any

import pytest

from agents_admin.services.users import user_create
from tests.browser.conftest import axe_violations, screenshot
from tests.personas import user_with_role
from tests.totp_helpers import totp_code

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a-fresh-Passphrase-42"


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_one_time_password_is_changed_at_first_sign_in(page: Any, live_server: Any) -> None:
    _user, one_time = user_create(username="newbie", role="Operator", actor=user_with_role("Admin", "ada"))
    sign_in(page, "newbie", one_time)
    page.wait_for_url("**/account/password/")
    assert page.get_by_text("You signed in with a one-time password").is_visible()
    assert axe_violations(page) == []
    page.goto("/threads/")  # every page leads back here until it is done
    page.wait_for_url("**/account/password/")
    page.get_by_label("Old password").fill(one_time)
    page.get_by_label("New password").first.fill("short")
    page.get_by_label("New password confirmation").fill("short")
    page.get_by_role("button", name="Change password").click()
    assert page.get_by_text("This password is too short").is_visible()
    page.get_by_label("Old password").fill(one_time)
    page.get_by_label("New password").first.fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(lambda url: "/account/password/" not in url)
    page.goto("/threads/")
    assert "/threads/" in page.url and page.get_by_role("heading", name="Threads").is_visible()


def test_two_factor_set_up_then_sign_in_with_a_code(signed_in: Any) -> None:
    page = signed_in
    page.get_by_role("link", name="admin", exact=True).click()
    page.get_by_role("link", name="Set up two-factor sign-in").click()
    page.get_by_role("button", name="Start").click()
    assert page.locator(".qr svg").is_visible()
    assert axe_violations(page) == []
    screenshot(page, "two-factor-set-up")
    secret = page.locator(".otp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    assert page.get_by_text("On: sign-in asks for a code").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    sign_in(page, "admin", "admin-pass-123")
    page.wait_for_url("**/login/code/")
    page.get_by_label("Code from your authenticator app").fill(
        "000000" if totp_code(secret, steps_ahead=1) != "000000" else "111111"
    )
    page.get_by_role("button", name="Verify and sign in").click()
    assert page.get_by_text("That code is not right").is_visible()
    page.get_by_label("Code from your authenticator app").fill(totp_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify and sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    assert page.get_by_role("button", name="Sign out").is_visible()
