"""Writes on a person's own account: the profile row, the password, the optional second factor (TOTP), and the
console session's account checks (idle time, a pending forced password change).

The second factor is django-otp's ``TOTPDevice``: RFC 6238 codes, 30 s steps, one step of clock drift either
way, and a code is never accepted twice (``last_t``), so a code seen over someone's shoulder is spent.
"""

from __future__ import annotations

import time
import zoneinfo
from base64 import b32encode

from django.contrib.auth import password_validation
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import UserProfile
from agents_admin.services.audit import Actor, audit_record

# Session keys. The time of the last activity (epoch seconds) and whether a password change is pending.
LAST_ACTIVITY = "account:last_activity"
MUST_CHANGE_PASSWORD = "account:must_change_password"
# The zone the console shows this person's times in (blank: the browser's); base.html reads it, so no page pays a
# query for it.
TIME_ZONE = "time_zone"
# Idle time is tracked to the minute: the session is rewritten at most once a minute, not on every request.
ACTIVITY_RESOLUTION_SECONDS = 60
DEVICE_NAME = "Authenticator app"


def user_profile_get(user: User) -> UserProfile:
    """The user's profile, created with the defaults on first need (no backfill for users made before it)."""
    profile, _ = UserProfile.objects.get_or_create(user_id=user.pk)
    return profile


# --- the console session ---------------------------------------------------------------------------------------


def account_session_start(*, request: HttpRequest, user: User) -> None:
    """At sign-in: start the idle clock, and remember in the session whether the password must be changed first
    (so that the check on every later request reads the session, not the database) and the person's time zone."""
    request.session[LAST_ACTIVITY] = int(time.time())
    profile = user_profile_get(user)
    request.session[TIME_ZONE] = profile.time_zone
    if profile.must_change_password:
        request.session[MUST_CHANGE_PASSWORD] = True


def account_session_idle(*, request: HttpRequest, timeout: int, activity: bool, now: float | None = None) -> bool:
    """Whether this session has been idle longer than ``timeout`` seconds (0: never). If not and the request is
    ``activity`` (a page load or a form, not a poll), the idle clock restarts, rewriting the session at most once
    per ``ACTIVITY_RESOLUTION_SECONDS``."""
    now = int(time.time() if now is None else now)
    last = request.session.get(LAST_ACTIVITY)
    if not isinstance(last, int):
        # A session from before idle tracking: its clock starts now.
        request.session[LAST_ACTIVITY] = now
        return False
    if timeout and now - last > timeout:
        return True
    if activity and now - last >= ACTIVITY_RESOLUTION_SECONDS:
        request.session[LAST_ACTIVITY] = now
    return False


def account_password_change_pending(*, request: HttpRequest) -> bool:
    """Whether this session must change its password before anything else. Read from the session; confirmed
    against the profile only while the session says so (another session of the same person may have changed it)."""
    if not request.session.get(MUST_CHANGE_PASSWORD):
        return False
    if user_profile_get(request.user).must_change_password:  # type: ignore[arg-type]
        return True
    del request.session[MUST_CHANGE_PASSWORD]
    return False


# --- password --------------------------------------------------------------------------------------------------


def password_change_require(*, user: User) -> None:
    """The user's next sign-in must choose a new password (their current one is known to someone else)."""
    UserProfile.objects.update_or_create(user_id=user.pk, defaults={"must_change_password": True})


def password_change(*, user: User, new_password: str, request: HttpRequest | None = None) -> None:
    """Set the user's own new password (Django's validators apply) and lift a pending forced change; one
    ``account.password_change`` record. The caller keeps the current session signed in
    (``update_session_auth_hash``); the person's other sessions end, as their password hash changed."""
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as error:
        raise InvalidInput(" ".join(error.messages), param="new_password1") from None
    with transaction.atomic():
        profile = user_profile_get(user)
        forced = profile.must_change_password
        user.set_password(new_password)
        user.save(update_fields=["password"])
        if forced:
            UserProfile.objects.filter(pk=profile.pk).update(must_change_password=False)
        audit_record(
            action="account.password_change", actor=user, object_type="user", object_id=str(user.pk),
            request=request, after={"forced": forced},
        )  # fmt: skip
    if request is not None:
        request.session.pop(MUST_CHANGE_PASSWORD, None)


# --- the second factor (TOTP) ------------------------------------------------------------------------------------


def totp_device(user: User, *, confirmed: bool = True) -> TOTPDevice | None:
    """The user's TOTP device (confirmed: the one sign-in asks a code of; unconfirmed: an enrolment under way)."""
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=confirmed).order_by("-id").first()


def totp_secret(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed in: base32, in groups of four."""
    raw = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def totp_enrol_start(*, user: User) -> TOTPDevice:
    """A new unconfirmed device with a fresh secret, replacing any earlier unfinished enrolment. Password accounts
    only (a Microsoft account's second factor is Microsoft's), and not while one is already on."""
    if not user.has_usable_password():
        raise Conflict("You sign in with Microsoft; its own second factor applies.", param="token")
    if totp_device(user) is not None:
        raise Conflict("Two-factor sign-in is already on; turn it off first to set up another app.", param="token")
    with transaction.atomic():
        TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).delete()
        return TOTPDevice.objects.create(user_id=user.pk, name=DEVICE_NAME, confirmed=False)


def totp_enrol_confirm(*, user: User, token: str, request: HttpRequest | None = None) -> TOTPDevice:
    """Turn the second factor on once the app shows a right code for the pending device; ``account.otp_enable``."""
    device = totp_device(user, confirmed=False)
    if device is None:
        raise Conflict("Start the set-up again: no enrolment is under way.", param="token")
    if not totp_verify(device=device, token=token):
        raise InvalidInput("That code is not right. Enter the 6 digits your app shows now.", param="token")
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        device.confirmed = True
        audit_record(
            action="account.otp_enable", actor=user, object_type="user", object_id=str(user.pk), request=request,
            after={"second_factor": "totp"},
        )  # fmt: skip
    return device


def totp_verify(*, device: TOTPDevice, token: str) -> bool:
    """Whether ``token`` is a right, unused code for the device (spaces ignored). Writes the device's replay and
    throttle state."""
    token = "".join((token or "").split())
    return token.isdigit() and len(token) == device.digits and bool(device.verify_token(token))


def totp_remove(*, user: User, actor: Actor, request: HttpRequest | None = None) -> bool:
    """Turn the second factor off: the person's own choice (``account.otp_disable``) or an admin's reset for a
    person who lost their phone (``user.otp_reset``). Returns whether it was on; if not, nothing is recorded."""
    own = getattr(actor, "pk", None) == user.pk
    with transaction.atomic():
        devices = TOTPDevice.objects.select_for_update().filter(user_id=user.pk)
        was_on = any(device.confirmed for device in devices)
        devices.delete()
        if was_on:
            audit_record(
                action="account.otp_disable" if own else "user.otp_reset", actor=actor, object_type="user",
                object_id=str(user.pk), request=request, before={"second_factor": "totp"}, after={"second_factor": ""},
            )  # fmt: skip
    return was_on


def user_time_zone_set(*, user: AbstractBaseUser, time_zone: str) -> UserProfile:
    """The zone the console shows this person's times in: an IANA name ("Europe/Paris"), or blank for the
    browser's own zone."""
    if time_zone and time_zone not in zoneinfo.available_timezones():
        raise InvalidInput(f"Unknown time zone '{time_zone}': use a name such as Europe/Paris.", param="time_zone")
    profile = user_profile_get(user)
    profile.time_zone = time_zone
    profile.save(update_fields=["time_zone"])
    return profile
