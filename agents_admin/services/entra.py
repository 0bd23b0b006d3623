"""Sign-in with Microsoft Entra ID (or another OpenID Connect provider): who a verified ID token is in the console.

Configured by ENTRA_* settings (see dashboard/settings.py). Two modes:

- without ``ENTRA_ROLE_MAP``: only existing, active console users may sign in; roles stay managed in the console;
- with ``ENTRA_ROLE_MAP`` (app role or group value -> console role): Entra is the source of truth. A person
  whose token carries no mapped role is refused; a new person is created (with no usable password) and the
  role is brought in line with the token at every sign-in. Creation and role changes are audited as
  ``entra-id``.

A person is bound to a console user on first sign-in by the issuer and the immutable subject (Entra: ``tid`` +
``oid``), never looked up by name afterwards. That first sign-in binds by name only to a user made for single
sign-on (no password, not a superuser), and only with a verified email.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction

from agents_admin.lib.oidc import Provider
from agents_admin.models import ExternalIdentity
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


def identity_of(claims: dict[str, Any]) -> tuple[str, str]:
    """(issuer, subject): what a person is bound on. Entra ID's tenant + object id when the token carries them
    (stable across the app registrations of a tenant), else the standard ``sub``."""
    issuer = str(claims.get("iss") or "")
    if claims.get("tid") and claims.get("oid"):
        return issuer, f"{claims['tid']}:{claims['oid']}"
    return issuer, str(claims.get("sub") or "")


def _email_verified(claims: dict[str, Any]) -> bool:
    # Entra ID says so in the optional xms_edov claim; other providers in the standard email_verified.
    return claims.get("email_verified") is True or claims.get("xms_edov") in (True, "1", "true")


def _linkable(user: User) -> bool:
    """May a first sign-in bind to this existing user? Never to one with a password (someone else may own the
    matching name at the provider) nor to a superuser or staff, nor to one already bound to another identity."""
    return (
        not user.has_usable_password()
        and not user.is_superuser
        and not user.is_staff
        and not ExternalIdentity.objects.filter(user=user).exists()
    )


def entra_user_for_claims(*, claims: dict[str, Any]) -> User:
    """The console user a verified ID token stands for; raises SignInRefused with the reason.

    A person seen before is found by issuer + subject. On a first sign-in the token's name may bind to an
    existing console user only if its email is verified and that user was created for single sign-on (no
    password, not a superuser); with a role map a new user is created. Roles never make a superuser."""
    issuer, subject = identity_of(claims)
    if not issuer or not subject:
        raise SignInRefused("Your Microsoft account sent no stable identifier.")
    username = str(claims.get("preferred_username") or claims.get("email") or "").strip()[:150]
    bound = ExternalIdentity.objects.filter(issuer=issuer, subject=subject).select_related("user").first()
    user = bound.user if bound is not None else None
    if user is None:
        if not username:
            raise SignInRefused("Your Microsoft account sent no username or email.")
        existing = User.objects.filter(username__iexact=username).first()
        if existing is not None:
            if not _email_verified(claims) or not _linkable(existing):
                raise SignInRefused(
                    f"The console account '{username}' cannot be linked to this Microsoft account automatically. "
                    "Ask an admin."
                )
            user = existing
        elif not settings.ENTRA_ROLE_MAP:
            raise SignInRefused(f"There is no console user '{username}'. Ask an admin to create one.")
    if settings.ENTRA_ROLE_MAP:
        role = role_from_claims(claims)
        if not role:
            raise SignInRefused("Your Microsoft account has no role for this console. Ask an admin to assign one.")
        if user is None:
            user = _user_create(username=username, email=str(claims.get("email") or "")[:254], role=role)
        elif user_role(user) != role:
            user_role_set(user=user, role=role, actor_label=ACTOR_LABEL)
        if user.is_superuser or user.is_staff:  # the role map is the whole truth: it never leaves these set
            User.objects.filter(pk=user.pk).update(is_superuser=False, is_staff=False)
            audit_record(
                action="user.role_change", actor_label=ACTOR_LABEL, object_type="user", object_id=str(user.pk),
                before={"is_superuser": user.is_superuser, "is_staff": user.is_staff},
                after={"is_superuser": False, "is_staff": False},
            )  # fmt: skip
            user.refresh_from_db()
    if not user.is_active:
        raise SignInRefused("Your console account is deactivated.")
    if bound is None:
        ExternalIdentity.objects.get_or_create(issuer=issuer, subject=subject, defaults={"user": user})
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
