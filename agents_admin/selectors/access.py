"""Reads for user management and the audit page. The audit page is keyset-paginated by (at, id) and never counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import User
from django.db.models import Prefetch
from django.http import Http404
from django.utils import timezone

from agents_admin.lib import keyset
from agents_admin.models import AuditEvent
from agents_admin.roles import ROLES

AUDIT_PER_PAGE = 50
USERS_PER_PAGE = 500


@dataclass
class UserRow:
    user: User
    role: str


def user_list(limit: int = USERS_PER_PAGE) -> list[UserRow]:
    """Users with their role, by username; two queries whatever the number of users."""
    groups = Prefetch("groups", to_attr="role_groups")
    users = User.objects.order_by("username").prefetch_related(groups)[:limit]
    rows = []
    for user in users:
        names = {g.name for g in user.role_groups}  # type: ignore[attr-defined]
        rows.append(UserRow(user=user, role=next((r for r in ROLES if r in names), "")))
    return rows


def user_get(user_id: int) -> User:
    try:
        return User.objects.prefetch_related("groups").get(pk=user_id)
    except User.DoesNotExist:
        raise Http404(f"No user {user_id}.") from None


def _encode_cursor(event: AuditEvent) -> str:
    return keyset.cursor_encode(event.at, event.pk)


def decode_audit_cursor(cursor: str) -> tuple[datetime, str | int] | None:
    """The (at, id) a cursor points after; None for a missing or mangled cursor."""
    return keyset.cursor_decode(cursor, int_key=True)


@dataclass
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


def audit_page(
    *,
    actor: str = "",
    action: str = "",
    object_id: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    cursor: str = "",
    per_page: int = AUDIT_PER_PAGE,
) -> AuditPage:
    """Audit events, newest first, one keyset page after ``cursor``. ``actor`` is a username (served by the
    actor index) or, for actors that are not users, their label."""
    queryset = AuditEvent.objects.order_by("-at", "-id")
    if actor:
        user_id = User.objects.filter(username=actor).values_list("pk", flat=True).first()
        queryset = queryset.filter(actor_id=user_id) if user_id is not None else queryset.filter(actor_label=actor)
    if action:
        queryset = queryset.filter(action=action)
    if object_id:
        queryset = queryset.filter(object_id=object_id)
    tz = timezone.get_current_timezone()
    if date_from:
        queryset = queryset.filter(at__gte=datetime.combine(date_from, time.min, tzinfo=tz))
    if date_to:
        queryset = queryset.filter(at__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz))
    position = decode_audit_cursor(cursor)
    if position is not None:
        queryset = queryset.filter(keyset.after("at", position))
    rows = list(queryset[: per_page + 1])
    events = rows[:per_page]
    return AuditPage(events=events, next_cursor=_encode_cursor(events[-1]) if len(rows) > per_page else None)
