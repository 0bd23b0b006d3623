"""Reads for saved views: the views a person sees on Threads or Search (their own and the shared ones)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import Http404

from agents_admin.models import SavedView
from agents_admin.roles import perm

VIEWS_SHOWN = 100


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
