"""Reads for user management and the audit page. The audit page is keyset-paginated by (at, id) and never counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import Prefetch
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from agents_admin import ids
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


def _audit_queryset(*, actor: str, action: str, object_id: str, date_from: date | None, date_to: date | None) -> Any:
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
    if date_to and date_to < date.max:  # the last day there is: no upper bound
        queryset = queryset.filter(at__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz))
    return queryset


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
    queryset = _audit_queryset(actor=actor, action=action, object_id=object_id, date_from=date_from, date_to=date_to)
    position = decode_audit_cursor(cursor)
    if position is not None:
        queryset = queryset.filter(keyset.after("at", position))
    rows = list(queryset[: per_page + 1])
    events = rows[:per_page]
    return AuditPage(events=events, next_cursor=_encode_cursor(events[-1]) if len(rows) > per_page else None)


def audit_events_all(
    *,
    actor: str = "",
    action: str = "",
    object_id: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    batch_size: int = 1000,
    **_ignored: Any,
) -> Iterator[AuditEvent]:
    """Every matching event, newest first, read a keyset batch at a time (bounded memory for a CSV of millions)."""
    queryset = _audit_queryset(actor=actor, action=action, object_id=object_id, date_from=date_from, date_to=date_to)
    position: tuple[datetime, str | int] | None = None
    while True:
        batch = list((queryset.filter(keyset.after("at", position)) if position else queryset)[:batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        position = (batch[-1].at, batch[-1].pk)


# --- the audit page's readable view of a record ---------------------------------------------------------------

# The console page of an object named by a record's object_type and a numeric id.
_PAGES_BY_TYPE = {
    "connection": "agents_admin:connection_edit",
    "remote_project": "agents_admin:remote_project_edit",
    "retention_policy": "agents_admin:retention_policy_detail",
    "purge_report": "agents_admin:purge_report_detail",
    "export": "agents_admin:export_job",
    "user": "agents_admin:user_edit",
    "review_queue": "agents_admin:review_queue_results",
}
# Keys inside before/after whose numeric value names an object of that type.
_PAGES_BY_KEY = {"policy": "retention_policy", "report": "purge_report", "job": "export", "queue": "review_queue"}


@dataclass(frozen=True)
class AuditChange:
    """One field of a record: what it was and what it became, as text, and a link for a value that is an id."""

    field: str
    before: str
    after: str
    before_url: str | None
    after_url: str | None
    changed: bool


def object_link(object_type: str, object_id: Any) -> str | None:
    """The console page of an object a record names, without a query: ids with a prefix (``thread_…``,
    ``asst_…``, ``run_…``) go through the jump box, numeric ids by their type. None when there is no page."""
    text = "" if object_id is None else str(object_id)
    if not text:
        return None
    if ids.kind_of(text) is not None:
        return f"{reverse('agents_admin:jump')}?{urlencode({'id': text})}"
    name = _PAGES_BY_TYPE.get(object_type)
    if name and text.isdigit():
        try:
            return reverse(name, args=[int(text)])
        except NoReverseMatch:
            return None
    return None


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def audit_changes(event: AuditEvent) -> list[AuditChange]:
    """Before and after side by side, field by field (a record of a read or a creation has only "after")."""
    before = event.before if isinstance(event.before, dict) else ({"value": event.before} if event.before else {})
    after = event.after if isinstance(event.after, dict) else ({"value": event.after} if event.after else {})
    fields = list(before) + [key for key in after if key not in before]
    rows = []
    for field in fields:
        old, new = before.get(field), after.get(field)
        kind = _PAGES_BY_KEY.get(field, "")
        rows.append(
            AuditChange(
                field=field,
                before=_shown(old),
                after=_shown(new),
                before_url=object_link(kind, old) if isinstance(old, str | int) else None,
                after_url=object_link(kind, new) if isinstance(new, str | int) else None,
                changed=field in before and field in after and old != new,
            )
        )
    return rows
