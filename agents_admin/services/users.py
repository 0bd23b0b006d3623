"""Writes on console users: create with a role, change role, deactivate and reactivate. Users are never deleted
(the audit log and agent versions keep pointing at them)."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import transaction

from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import UserProfile
from agents_admin.roles import ROLES
from agents_admin.services.audit import Actor, audit_record

# 18 random bytes -> 24 URL-safe characters: shown once to the admin, who hands it over; never stored in clear.
ONE_TIME_PASSWORD_BYTES = 18


def user_role(user: User) -> str:
    """The user's role: the first role group it is in ("" for none). A user holds one role at a time."""
    names = {g.name for g in user.groups.all()}
    return next((role for role in ROLES if role in names), "")


def user_create(
    *, username: str, email: str = "", role: str, sso_only: bool = False, actor: Actor = None, actor_label: str = ""
) -> tuple[User, str]:
    """A new active user with ``role`` and a generated password; returns (user, password). The password is not
    kept anywhere in clear: show it once. ``sso_only``: no password at all ("" returned); the person signs in
    with Microsoft Entra ID, whose first sign-in binds to such an account only."""
    username = (username or "").strip()
    if not username or len(username) > 150:
        raise InvalidInput("Enter a username of at most 150 characters.", param="username")
    try:
        User.username_validator(username)
    except ValidationError as error:
        raise InvalidInput(" ".join(error.messages), param="username") from None
    if role not in ROLES:
        raise InvalidInput("Choose a role.", param="role")
    password = "" if sso_only else secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise InvalidInput(f"A user named '{username}' already exists.", param="username")
        user = User.objects.create_user(username=username, email=(email or "").strip(), password=password or None)
        user.groups.set([Group.objects.get(name=role)])
        # Someone else knows the one-time password: the person must choose their own at first sign-in.
        UserProfile.objects.create(user=user, must_change_password=bool(password))
        audit_record(
            action="user.create", actor=actor, actor_label=actor_label, object_type="user", object_id=str(user.pk),
            after={"username": user.username, "email": user.email, "role": role, "is_active": True,
                   "sign_in": "microsoft" if sso_only else "password"},
        )  # fmt: skip
    return user, password


def user_role_set(*, user: User, role: str, actor: Actor = None, actor_label: str = "") -> User:
    """Give the user exactly this role. Setting the role it already has changes and records nothing."""
    if role not in ROLES:
        raise InvalidInput("Choose a role.", param="role")
    before = user_role(user)
    if before == role:
        return user
    if actor is not None and getattr(actor, "pk", None) == user.pk:
        raise Conflict("You cannot change your own role; ask another admin.", param="role")
    with transaction.atomic():
        others = user.groups.exclude(name__in=ROLES)
        user.groups.set([*others, Group.objects.get(name=role)])
        audit_record(
            action="user.role_change", actor=actor, actor_label=actor_label, object_type="user",
            object_id=str(user.pk), before={"role": before}, after={"role": role},
        )  # fmt: skip
    return user


def user_active_set(*, user: User, active: bool, actor: Actor = None, actor_label: str = "") -> User:
    """Deactivate (sign-in refused, sessions end at their next request) or reactivate. You cannot deactivate
    yourself, so an instance never locks out its last admin by accident."""
    if user.is_active == active:
        return user
    if not active and actor is not None and getattr(actor, "pk", None) == user.pk:
        raise Conflict("You cannot deactivate yourself.", param="user_id")
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=active)
        user.is_active = active
        audit_record(
            action="user.reactivate" if active else "user.deactivate", actor=actor, actor_label=actor_label,
            object_type="user", object_id=str(user.pk), before={"is_active": not active}, after={"is_active": active},
        )  # fmt: skip
    return user
