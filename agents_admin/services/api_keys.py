"""Project API keys: made and revoked by people (console, CLI), checked on every REST API call.

The secret is shown once, at creation; only its SHA-256 is stored, so a database leak does not leak keys.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents_admin import validation
from agents_admin.errors import Conflict
from agents_admin.models import ApiKey, Project
from agents_admin.services.audit import Actor, audit_record

KEY_PREFIX = "aak_"
DISPLAY_PREFIX_LENGTH = 12
# last_used_at is written at most this often per key, so busy clients do not turn every call into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    secret: str  # the full key; never stored, shown once


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, project: Project, label: str = "", actor: Any = None, actor_label: str = "") -> NewApiKey:
    """A new key for ``project``; ``actor_label`` names a non-user creator (``"cli"``) in the audit log."""
    label = validation.validate_name(label, param="label", max_length=100)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    person = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            project=project,
            label=label,
            prefix=secret[:DISPLAY_PREFIX_LENGTH],
            hashed_key=hash_key(secret),
            created_by=person,
        )
        audit_record(
            action="api_key.create",
            actor=person,
            actor_label=actor_label,
            object_type="api_key",
            object_id=api_key.prefix,
            project=project,
            after={"label": label},
        )
    return NewApiKey(api_key=api_key, secret=secret)


def api_key_revoke(*, api_key: ApiKey, actor: Actor = None) -> ApiKey:
    """Revoke a key; from then on every call with it gets 401. Revoking twice raises Conflict."""
    with transaction.atomic():
        updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if updated:
            audit_record(
                action="api_key.revoke",
                actor=actor,
                object_type="api_key",
                object_id=api_key.prefix,
                project_id=api_key.project_id,
            )
    api_key.refresh_from_db()
    if not updated:
        raise Conflict("This key is already revoked.", param="api_key")
    return api_key


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The active key with this secret (its project loaded), or None. Records when it was last used."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    api_key = (
        ApiKey.objects.select_related("project").filter(hashed_key=hash_key(secret), revoked_at__isnull=True).first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
    return api_key
