"""Writes for saved views: a named set of Threads or Search filters, personal or shared with everyone.

A view stores the parameters its page reads (``ThreadFilters.to_params()``, plus ``sort`` on Threads and the words
``q`` on Search), cleaned as the page cleans them, so opening a view is opening a URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from agents_admin.errors import Conflict, InvalidInput, LimitExceeded
from agents_admin.models import SavedView
from agents_admin.roles import perm
from agents_admin.selectors.threads import DEFAULT_SORT, SORT_LABELS, ThreadFilters
from agents_admin.services.audit import audit_record

MAX_NAME_LENGTH = 80
MAX_WORDS_LENGTH = 500
MAX_VIEWS_PER_PERSON = 50


def saved_view_params(page: str, query: Mapping[str, Any]) -> dict[str, str]:
    """The parameters of ``query`` that ``page`` reads, cleaned as the page cleans them (an invalid filter is left
    out), without the cursor: a view opens on its first page."""
    filters, _errors = ThreadFilters.from_params(query)
    params = filters.to_params()
    if page == SavedView.Page.THREADS:
        sort = str(query.get("sort") or "")
        if sort in SORT_LABELS and sort != DEFAULT_SORT:
            params["sort"] = sort
    elif page == SavedView.Page.SEARCH:
        words = str(query.get("q") or "").strip()[:MAX_WORDS_LENGTH]
        if words:
            params["q"] = words
    else:
        raise InvalidInput(f"Views are saved for Threads or Search, not {page!r}.", param="page")
    return params


def _name_clean(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("Give the view a name.", param="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"A view's name is at most {MAX_NAME_LENGTH} characters.", param="name")
    return name


def _shared_check(actor: Any, shared: bool) -> None:
    if shared and not actor.has_perm(perm("share_views")):
        raise InvalidInput("Your role cannot share views; save it for yourself.", param="shared")


def _duplicate(name: str) -> Conflict:
    return Conflict(f"You already have a view named “{name}” on this page.", param="name", code="duplicate_name")


def saved_view_create(*, owner: Any, page: str, name: str, query: Mapping[str, Any], shared: bool = False) -> SavedView:
    """Save the filters of ``query`` as a view of ``owner``; audited as ``saved_view.create``."""
    name = _name_clean(name)
    params = saved_view_params(page, query)
    _shared_check(owner, shared)
    with transaction.atomic():
        if SavedView.objects.filter(owner=owner).count() >= MAX_VIEWS_PER_PERSON:
            raise LimitExceeded(f"You have {MAX_VIEWS_PER_PERSON} saved views; delete one first.", param="name")
        try:
            with transaction.atomic():
                view = SavedView.objects.create(owner=owner, page=page, name=name, params=params, shared=shared)
        except IntegrityError:
            raise _duplicate(name) from None
        audit_record(
            action="saved_view.create", actor=owner, object_type="saved_view", object_id=str(view.pk),
            after={"name": name, "page": page, "params": params, "shared": shared},
        )  # fmt: skip
    return view


def saved_view_update(*, view: SavedView, actor: Any, name: str, shared: bool) -> SavedView:
    """Rename a view or change whether it is shared (the caller checked the actor may); audited with the change."""
    name = _name_clean(name)
    if shared and not view.shared:  # anyone may stop sharing their own view
        _shared_check(actor, True)
    before = {"name": view.name, "shared": view.shared}
    if before == {"name": name, "shared": shared}:
        return view
    with transaction.atomic():
        view.name, view.shared = name, shared
        try:
            with transaction.atomic():
                view.save(update_fields=["name", "shared", "updated_at"])
        except IntegrityError:
            view.name, view.shared = before["name"], before["shared"]
            raise _duplicate(name) from None
        audit_record(
            action="saved_view.update", actor=actor, object_type="saved_view", object_id=str(view.pk),
            before=before, after={"name": name, "shared": shared},
        )  # fmt: skip
    return view


def saved_view_delete(*, view: SavedView, actor: Any) -> None:
    """Delete a view (confirmed by the caller); audited as ``saved_view.delete``."""
    with transaction.atomic():
        SavedView.objects.filter(pk=view.pk).delete()
        audit_record(
            action="saved_view.delete", actor=actor, object_type="saved_view", object_id=str(view.pk),
            before={"name": view.name, "page": view.page, "params": view.params, "shared": view.shared},
        )  # fmt: skip
