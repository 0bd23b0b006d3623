"""Keyset (cursor) pages in the OpenAI list envelope: ``{object, data, first_id, last_id, has_more}``.

Ordering is by a total order (``created_at`` then id, or a message's ``seq``), so paging never skips or
repeats an item and costs one indexed range query whatever the page number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model, Q, QuerySet
from django.http import QueryDict

from agents_admin.api.errors import invalid

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def page(
    queryset: QuerySet[Any],
    query: QueryDict,
    serialize: Callable[[Any], dict[str, Any]],
    *,
    keys: tuple[str, ...] = ("created_at", "pk"),
    locate: Callable[[str], Q] | None = None,
    serialize_many: Callable[[list[Any]], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """One page of ``queryset`` per the ``limit``/``order``/``after``/``before`` query parameters.

    ``after`` alone reads on from its item, ``before`` alone the items nearest before its item, and both
    together the items between them. ``locate`` finds the cursor's row when a cursor is not a primary key (a v2
    agent's name, ``name:version``); ``serialize_many`` serializes the whole page at once when each row needs a
    read of its own.
    """
    limit, descending = limit_and_order(query)
    after, before = query.get("after"), query.get("before")
    reverse = False
    if after and before:
        # The window strictly between the two cursors, read from ``after`` on: the official clients send the
        # original ``before`` with every later page's ``after``. Cursors the wrong way round give an empty page.
        queryset = queryset.filter(
            _beyond(queryset, after, keys, forward=not descending, param="after", locate=locate),
            _beyond(queryset, before, keys, forward=descending, param="before", locate=locate),
        )
    elif after:
        queryset = queryset.filter(_beyond(queryset, after, keys, forward=not descending, param="after", locate=locate))
    elif before:
        queryset = queryset.filter(_beyond(queryset, before, keys, forward=descending, param="before", locate=locate))
        # The items nearest the cursor come first when read backwards; flipped again below.
        reverse = True
    fetch_descending = descending != reverse
    ordering = [f"-{k}" if fetch_descending else k for k in keys]
    rows = list(queryset.order_by(*ordering)[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    if reverse:
        rows.reverse()
    data = serialize_many(rows) if serialize_many else [serialize(row) for row in rows]
    return envelope(data, has_more=has_more)


def envelope(data: list[dict[str, Any]], *, has_more: bool) -> dict[str, Any]:
    """The list envelope around one page's serialized items."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        # Null on an empty page: the SDK pages on last_id and would loop forever otherwise.
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def limit_and_order(query: QueryDict) -> tuple[int, bool]:
    """The page size and whether the list reads newest first (``order=desc``, the default), checked."""
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise invalid("order must be 'asc' or 'desc'.", param="order")
    return _limit(query.get("limit")), order == "desc"


def _limit(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise invalid("limit must be an integer between 1 and 100.", param="limit") from None
    if not 1 <= value <= MAX_LIMIT:
        raise invalid("limit must be an integer between 1 and 100.", param="limit")
    return value


def _beyond(
    queryset: QuerySet[Any],
    cursor: str,
    keys: tuple[str, ...],
    *,
    forward: bool,
    param: str,
    locate: Callable[[str], Q] | None = None,
) -> Q:
    """Items strictly after (``forward``) or before the cursor item in ascending key order."""
    row: Model | None = queryset.filter(locate(cursor) if locate else Q(pk=cursor)).first()
    if row is None:
        raise invalid(f"No item with id '{cursor}' in this list.", param=param)
    op = "gt" if forward else "lt"
    values = [getattr(row, "pk" if k == "pk" else k) for k in keys]
    condition = Q()
    for index, key in enumerate(keys):
        term = Q(**{f"{key}__{op}": values[index]})
        for previous, value in zip(keys[:index], values[:index], strict=False):
            term &= Q(**{previous: value})
        condition |= term
    return condition
