"""A person's own account: change password (Django's validators), the forced change of a one-time password at
first sign-in, idle sign-out that htmx polls do not hold off, and the optional TOTP second factor (set up, sign in
with a code, turn off, an admin's reset)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.models import AuditEvent
from agents_admin.services.accounts import LAST_ACTIVITY, totp_device
from tests.confirm_helpers import confirm_post
from tests.personas import client_for, user_with_role
from tests.totp_helpers import secret_from_page, totp_code

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
PASSWORD = "pw-1234567890"  # tests.personas'
NEW_PASSWORD = "a-fresh-Passphrase-42"


def records(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def sign_in(username: str, password: str) -> tuple[Client, Any]:
    client = Client()
    return client, client.post("/login/", {"username": username, "password": password})


# --- change password -----------------------------------------------------------------------------------------


def test_the_account_page_links_to_password_and_two_factor_as_page_and_partial() -> None:
    client = client_for(user_with_role("Reviewer", "rita"))
    body = client.get(reverse("agents_admin:account")).content.decode()
    assert "<html" in body and reverse("agents_admin:password_change") in body
    assert reverse("agents_admin:otp_setup") in body
    partial = client.get(reverse("agents_admin:account"), **HX).content.decode()
    assert "<html" not in partial and "Two-factor sign-in" in partial


def test_changing_the_password_checks_the_old_one_and_the_validators() -> None:
    rita = user_with_role("Reviewer", "rita")
    client = client_for(rita)
    url = reverse("agents_admin:password_change")
    wrong_old = client.post(url, {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert wrong_old.status_code == 200 and wrong_old.context["form"].errors.keys() == {"old_password"}
    weak = client.post(url, {"old_password": PASSWORD, "new_password1": "password", "new_password2": "password"})
    assert "new_password2" in weak.context["form"].errors and "too common" in weak.content.decode()
    assert records("account.password_change") == 0
    rita.refresh_from_db()
    assert rita.check_password(PASSWORD)


def test_changing_the_password_keeps_this_session_ends_the_others_and_is_audited_once() -> None:
    rita = user_with_role("Reviewer", "rita")
    here, elsewhere = client_for(rita), client_for(rita)
    data = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = here.post(reverse("agents_admin:password_change"), data)
    assert response.status_code == 302
    assert here.get(reverse("agents_admin:account")).status_code == 200
    assert elsewhere.get(reverse("agents_admin:account")).status_code == 302  # signed out
    rita.refresh_from_db()
    assert rita.check_password(NEW_PASSWORD)
    event = AuditEvent.objects.get(action="account.password_change")
    assert event.actor_id == rita.pk and event.after == {"forced": False}


# --- the forced change of a one-time password ---------------------------------------------------------------------


def test_a_one_time_password_must_be_changed_before_any_other_page() -> None:
    admin = client_for(user_with_role("Admin", "ada"))
    created = admin.post(reverse("agents_admin:user_create"), {"username": "newbie", "role": "Operator"})
    one_time = created.context["password"]
    client, response = sign_in("newbie", one_time)
    assert response.status_code == 302
    change = reverse("agents_admin:password_change")
    for url in (reverse("agents_admin:home"), reverse("agents_admin:thread_list"), reverse("agents_admin:account")):
        assert client.get(url)["Location"] == change
    assert client.get(reverse("agents_admin:thread_list"), **HX)["HX-Redirect"] == change
    # The menu's polls on the change-password page itself get nothing, so the page does not reload itself.
    on_page = {**HX, "HTTP_HX_CURRENT_URL": f"http://testserver{change}"}
    assert client.get(reverse("agents_admin:needs_action") + "?count", **on_page).status_code == 204
    page = client.get(change)
    assert page.status_code == 200 and "one-time password" in page.content.decode()
    data = {"old_password": one_time, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post(change, data).status_code == 302
    assert client.get(reverse("agents_admin:thread_list")).status_code == 200
    assert AuditEvent.objects.get(action="account.password_change").after == {"forced": True}
    # Signing in again with the new password: no detour.
    again, _ = sign_in("newbie", NEW_PASSWORD)
    assert again.get(reverse("agents_admin:home")).status_code == 200


def test_the_demo_admin_changes_the_documented_password_at_first_sign_in() -> None:
    from django.core.management import call_command

    call_command("bootstrap_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    client, _ = sign_in("admin", "admin")
    assert client.get(reverse("agents_admin:home"))["Location"] == reverse("agents_admin:password_change")


# --- idle sign-out -------------------------------------------------------------------------------------------


def _idle_for(client: Client, seconds: int) -> None:
    session = client.session
    session[LAST_ACTIVITY] = int(time.time()) - seconds
    session.save()


def test_a_session_idle_longer_than_the_timeout_signs_out_and_comes_back(settings: Any) -> None:
    settings.SESSION_IDLE_TIMEOUT = 1800
    client = client_for(user_with_role("Reviewer", "rita"))
    _idle_for(client, 1700)
    assert client.get(reverse("agents_admin:thread_list")).status_code == 200
    _idle_for(client, 1801)
    response = client.get(reverse("agents_admin:thread_list") + "?q=x")
    assert response.status_code == 302 and response["Location"] == "/login/?next=%2Fthreads%2F%3Fq%3Dx"
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("agents_admin:thread_list")).status_code == 302


def test_htmx_polls_do_not_hold_the_session_open_and_are_sent_to_sign_in(settings: Any) -> None:
    settings.SESSION_IDLE_TIMEOUT = 1800
    client = client_for(user_with_role("Operator", "otto"))
    _idle_for(client, 1000)
    before = client.session[LAST_ACTIVITY]
    for _ in range(3):
        assert client.get(reverse("agents_admin:needs_action") + "?count", **HX).status_code == 200
    assert client.session[LAST_ACTIVITY] == before  # a poll is not activity
    client.get(reverse("agents_admin:needs_action"))  # a page load is
    assert client.session[LAST_ACTIVITY] >= int(time.time()) - 5
    _idle_for(client, 1801)
    on_page = {**HX, "HTTP_HX_CURRENT_URL": "http://testserver/threads/?q=x"}
    poll = client.get(reverse("agents_admin:needs_action") + "?count", **on_page)
    assert poll["HX-Redirect"] == "/login/?next=%2Fthreads%2F%3Fq%3Dx"  # back to the page, not the poll's fragment


def test_an_idle_timeout_of_zero_never_signs_out(settings: Any) -> None:
    settings.SESSION_IDLE_TIMEOUT = 0
    client = client_for(user_with_role("Reviewer", "rita"))
    _idle_for(client, 10 * 86400)
    assert client.get(reverse("agents_admin:home")).status_code == 200


# --- the second factor -----------------------------------------------------------------------------------------


def enrol(client: Client) -> str:
    """Set up the second factor through the pages; returns the secret."""
    started = client.post(reverse("agents_admin:otp_setup"), {"start": "1"})
    body = started.content.decode()
    assert started.status_code == 200 and "<svg" in body and "otpauth://totp/" in body
    assert "no-store" in started["Cache-Control"]
    secret = secret_from_page(body)
    wrong = client.post(
        reverse("agents_admin:otp_setup"), {"token": "000000" if totp_code(secret) != "000000" else "1"}
    )
    assert "token" in wrong.context["form"].errors and records("account.otp_enable") == 0
    done = client.post(reverse("agents_admin:otp_setup"), {"token": totp_code(secret)})
    assert done.status_code == 302 and records("account.otp_enable") == 1
    return secret


def test_setting_up_the_second_factor_then_signing_in_asks_for_the_code() -> None:
    rita = user_with_role("Reviewer", "rita")
    secret = enrol(client_for(rita))
    assert totp_device(rita) is not None
    client, response = sign_in("rita", PASSWORD)
    assert response["Location"] == reverse("login_code")
    assert "_auth_user_id" not in client.session  # the password alone does not sign in
    assert client.get(reverse("agents_admin:home")).status_code == 302
    wrong = client.post(reverse("login_code"), {"token": "12345x"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.sign_in_failed", object_id="rita").count() == 1
    signed = client.post(reverse("login_code"), {"token": totp_code(secret, steps_ahead=1)})
    assert signed.status_code == 302 and client.session["_auth_user_id"] == str(rita.pk)
    assert client.get(reverse("agents_admin:home")).status_code == 200


def test_a_code_is_never_accepted_twice() -> None:
    rita = user_with_role("Reviewer", "rita")
    secret = enrol(client_for(rita))
    code = totp_code(secret, steps_ahead=1)
    first, _ = sign_in("rita", PASSWORD)
    assert first.post(reverse("login_code"), {"token": code}).status_code == 302
    second, _ = sign_in("rita", PASSWORD)
    assert second.post(reverse("login_code"), {"token": code}).status_code == 200
    assert "_auth_user_id" not in second.session


def test_wrong_codes_are_throttled_like_wrong_passwords(settings: Any) -> None:
    settings.SIGNIN_MAX_FAILURES_PER_USER = 3
    rita = user_with_role("Reviewer", "rita")
    secret = enrol(client_for(rita))
    client, _ = sign_in("rita", PASSWORD)
    statuses = [client.post(reverse("login_code"), {"token": "000001"}).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    blocked = client.post(reverse("login_code"), {"token": totp_code(secret)})
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) >= 1
    assert "_auth_user_id" not in client.session


def test_the_code_step_without_a_password_first_goes_back_to_sign_in() -> None:
    assert Client().get(reverse("login_code"))["Location"] == reverse("login")


def test_turning_the_second_factor_off_is_confirmed_and_audited_once() -> None:
    rita = user_with_role("Reviewer", "rita")
    client = client_for(rita)
    enrol(client)
    first = client.post(reverse("agents_admin:otp_disable"))
    assert first.status_code == 200 and "Turn off two-factor sign-in?" in first.content.decode()
    assert totp_device(rita) is not None
    done = confirm_post(client, reverse("agents_admin:otp_disable"))
    assert done.status_code == 302 and totp_device(rita) is None
    assert records("account.otp_disable") == 1
    _, response = sign_in("rita", PASSWORD)
    assert response["Location"] == reverse("agents_admin:home")


def test_an_admin_resets_a_persons_second_factor_confirmed_and_audited_once() -> None:
    rita = user_with_role("Reviewer", "rita")
    enrol(client_for(rita))
    admin = client_for(user_with_role("Admin", "ada"))
    url = reverse("agents_admin:user_otp_reset", args=[rita.pk])
    assert "Reset second factor" in admin.get(reverse("agents_admin:user_edit", args=[rita.pk])).content.decode()
    assert admin.post(url).status_code == 200 and totp_device(rita) is not None  # the confirmation page
    assert confirm_post(admin, url).status_code == 302 and totp_device(rita) is None
    event = AuditEvent.objects.get(action="user.otp_reset")
    assert event.object_id == str(rita.pk) and event.actor_label == "ada"
    assert client_for(user_with_role("Reviewer", "rex")).post(url).status_code == 403


def test_a_microsoft_only_account_has_no_password_or_second_factor_to_set() -> None:
    sso = User.objects.create_user("sso", password=None)
    client = client_for(sso)
    body = client.get(reverse("agents_admin:account")).content.decode()
    assert "no password here" in body and reverse("agents_admin:otp_setup") not in body
    assert client.post(reverse("agents_admin:otp_setup"), {"start": "1"}).status_code == 302
    assert totp_device(sso, confirmed=False) is None
