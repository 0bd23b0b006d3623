"""Keyset (cursor) pagination over ``(timestamp, id)``, newest first: opaque cursors and the filter after one.

Lists that can be long page this way instead of OFFSET/COUNT, so page N costs what page 1 costs.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.db.models import Q
from django.utils import timezone


def cursor_encode(moment: datetime, key: object) -> str:
    """An opaque cursor pointing after the row with this timestamp and id."""
    raw = f"{moment.isoformat()}|{key}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(cursor: str, *, int_key: bool = False) -> tuple[datetime, str | int] | None:
    """The (timestamp, id) a cursor points after; None for a missing or mangled cursor."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, key = raw.split("|", 1)
        moment = datetime.fromisoformat(stamp)
        value: str | int = int(key) if int_key else key
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if timezone.is_naive(moment):
        return None
    return moment, value


def after(field: str, position: tuple[datetime | int, str | int]) -> Q:
    """Rows after ``position`` in ``(-field, -id)`` order."""
    moment, key = position
    return Q(**{f"{field}__lt": moment}) | Q(**{field: moment, "id__lt": key})


def int_cursor_encode(value: int, key: object) -> str:
    """An opaque cursor after the row with this number (a count, say) and id, for ``(-number, -id)`` order."""
    return base64.urlsafe_b64encode(f"n{value}|{key}".encode()).decode().rstrip("=")


def int_cursor_decode(cursor: str) -> tuple[int, str] | None:
    """The (number, id) an ``int_cursor_encode`` cursor points after; None for a missing or mangled cursor."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        number, key = raw.split("|", 1)
        if not number.startswith("n"):
            return None
        return int(number[1:]), key
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
