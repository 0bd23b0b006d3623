"""Reads for saved views: the views a person sees on Threads or Search (their own and the shared ones), and the
first few of them in the menu, read through the cache."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.http import Http404

from agents_admin.models import SavedView
from agents_admin.roles import perm

VIEWS_SHOWN = 100
# The page a view opens, by its ``page``.
VIEW_URL_NAMES = {SavedView.Page.THREADS: "agents_admin:thread_list", SavedView.Page.SEARCH: "agents_admin:search"}
# The menu lists this many of a person's views (by name, as /views/ does), then "All views…".
MENU_VIEWS = 8
# Every change to any view gives the menu entries a new generation; an entry of an older one is read again.
MENU_GENERATION_KEY = "saved-views:generation"
MENU_CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class MenuView:
    id: int
    name: str
    page: str
    query_string: str
    shared: bool


def saved_views_menu(user: Any) -> list[MenuView]:
    """The first MENU_VIEWS of the person's views (own and shared, by name). Every page's menu shows them, so they
    come from the cache: one cache read (the generation and the person's entry together) and no query until a view
    changes anywhere; then one query (MENU_VIEWS rows) refills the entry."""
    key = f"saved-views:menu:{user.pk}"
    found = cache.get_many([MENU_GENERATION_KEY, key])
    generation, entry = found.get(MENU_GENERATION_KEY), found.get(key)
    if generation is not None and entry is not None and entry[0] == generation:
        return list(entry[1])
    if generation is None:
        cache.add(MENU_GENERATION_KEY, secrets.token_hex(8), None)  # add: a concurrent change's generation wins
        generation = cache.get(MENU_GENERATION_KEY)
    # Read after the generation: a change committed meanwhile gives a newer one, so this entry is read again.
    rows = (
        SavedView.objects.filter(Q(owner_id=user.pk) | Q(shared=True))
        .order_by("name", "id")
        .values_list("id", "name", "page", "params", "shared")[:MENU_VIEWS]
    )
    views = [
        MenuView(pk, name, page, SavedView(params=params).query_string, shared)
        for pk, name, page, params, shared in rows
    ]
    if generation is not None:
        cache.set(key, (generation, views), MENU_CACHE_SECONDS)
    return views


def saved_views_changed() -> None:
    """A view was saved, renamed, shared or deleted: every menu reads its views again. Now (this request's next
    page) and once the change is committed (so no page refills an entry from before it)."""

    def bump() -> None:
        cache.set(MENU_GENERATION_KEY, secrets.token_hex(8), None)

    bump()
    transaction.on_commit(bump)


def saved_views_for(user: Any, *, page: str | None = None) -> list[SavedView]:
    """The person's own views and everyone's shared ones, by name (one query)."""
    views = SavedView.objects.filter(Q(owner_id=user.pk) | Q(shared=True)).select_related("owner")
    if page is not None:
        views = views.filter(page=page)
    return list(views.order_by("name", "id")[:VIEWS_SHOWN])


def saved_view_editable(view_id: int, user: Any) -> SavedView:
    """A view this person may rename or delete: their own, or a shared one when they may share views; else 404."""
    view = SavedView.objects.filter(pk=view_id).select_related("owner").first()
    if view is None or not (view.owner_id == user.pk or (view.shared and user.has_perm(perm("share_views")))):
        raise Http404("No such view of yours.")
    return view
