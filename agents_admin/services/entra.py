"""Sign-in with Microsoft Entra ID (or another OpenID Connect provider): who a verified ID token is in the console.

Configured by ENTRA_* settings (see dashboard/settings.py). Two modes:

- without ``ENTRA_ROLE_MAP``: only existing, active console users may sign in (matched by username, case-
  insensitively, to the token's ``preferred_username`` or ``email``); roles stay managed in the console;
- with ``ENTRA_ROLE_MAP`` (app role or group value -> console role): Entra is the source of truth. A person
  whose token carries no mapped role is refused; a new person is created (with no usable password) and the
  role is brought in line with the token at every sign-in. Creation and role changes are audited as
  ``entra-id``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction

from agents_admin.lib.oidc import Provider
from agents_admin.roles import ROLES
from agents_admin.services.audit import audit_record
from agents_admin.services.users import user_role, user_role_set

ACTOR_LABEL = "entra-id"


class SignInRefused(Exception):
    """The token is valid but this person may not use the console; the message is safe to show."""


def entra_provider() -> Provider | None:
    """The configured provider, or None when Entra sign-in is off."""
    if not (settings.ENTRA_ISSUER and settings.ENTRA_CLIENT_ID and settings.ENTRA_CLIENT_SECRET):
        return None
    return Provider(
        issuer=settings.ENTRA_ISSUER, client_id=settings.ENTRA_CLIENT_ID, client_secret=settings.ENTRA_CLIENT_SECRET
    )


def role_from_claims(claims: dict[str, Any]) -> str:
    """The most powerful console role the token's role claim maps to ("" for none)."""
    values = claims.get(settings.ENTRA_ROLE_CLAIM) or []
    if isinstance(values, str):
        values = [values]
    mapped = {settings.ENTRA_ROLE_MAP.get(str(v), "") for v in values}
    return next((role for role in ROLES if role in mapped), "")


def entra_user_for_claims(*, claims: dict[str, Any]) -> User:
    """The console user a verified ID token stands for; raises SignInRefused with the reason."""
    username = str(claims.get("preferred_username") or claims.get("email") or "").strip()[:150]
    if not username:
        raise SignInRefused("Your Microsoft account sent no username or email.")
    user = User.objects.filter(username__iexact=username).first()
    if not settings.ENTRA_ROLE_MAP:
        if user is None:
            raise SignInRefused(f"There is no console user '{username}'. Ask an admin to create one.")
    else:
        role = role_from_claims(claims)
        if not role:
            raise SignInRefused("Your Microsoft account has no role for this console. Ask an admin to assign one.")
        if user is None:
            user = _user_create(username=username, email=str(claims.get("email") or "")[:254], role=role)
        elif user_role(user) != role:
            user_role_set(user=user, role=role, actor_label=ACTOR_LABEL)
    if not user.is_active:
        raise SignInRefused("Your console account is deactivated.")
    return user


def _user_create(*, username: str, email: str, role: str) -> User:
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=None)  # no usable password
        user.groups.set([Group.objects.get(name=role)])
        audit_record(
            action="user.create", actor_label=ACTOR_LABEL, object_type="user", object_id=str(user.pk),
            after={"username": username, "email": email, "role": role, "is_active": True},
        )  # fmt: skip
    return user
