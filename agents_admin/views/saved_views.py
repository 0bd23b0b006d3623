"""Saved views: the list (own and shared), saving the Threads or Search page's filters, renaming, deleting."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents_admin.errors import ServiceError
from agents_admin.forms.confirm import ConfirmForm
from agents_admin.forms.saved_views import SavedViewCreateForm, SavedViewForm
from agents_admin.models import SavedView
from agents_admin.selectors.saved_views import VIEW_URL_NAMES, saved_view_editable, saved_views_for
from agents_admin.services.saved_views import (
    saved_view_create,
    saved_view_delete,
    saved_view_params,
    saved_view_update,
)
from agents_admin.views.access import capability_required
from agents_admin.views.common import Confirmation, HtmxHttpRequest, confirmed, render_confirm, wants_partial

FORM = "agents_admin/saved_view_form.html"


def view_url(view: SavedView) -> str:
    query = view.query_string
    return reverse(VIEW_URL_NAMES[SavedView.Page(view.page)]) + (f"?{query}" if query else "")


def saved_views_context(request: HtmxHttpRequest, page: str) -> dict[str, Any]:
    """What the Threads and Search pages show of saved views: the form that saves the current filters and, on the
    full page (not an htmx results region), the list with the open one marked (one query)."""
    context: dict[str, Any] = {
        "save_view_form": SavedViewCreateForm(initial={"page": page, "query": request.GET.urlencode()}),
    }
    if not wants_partial(request):
        current = SavedView(page=page, params=saved_view_params(page, request.GET)).query_string
        views = saved_views_for(request.user, page=page)
        context["saved_views"] = [(view, view_url(view), view.query_string == current) for view in views]
    return context


@require_GET
@capability_required("view_conversations")
def saved_view_list(request: HtmxHttpRequest) -> HttpResponse:
    views = [(view, view_url(view)) for view in saved_views_for(request.user)]
    return render(request, "agents_admin/saved_view_list.html", {"views": views})


@require_POST
@capability_required("view_conversations")
def saved_view_create_view(request: HtmxHttpRequest) -> HttpResponse:
    """Save the page's filters (sent as ``query``) under a name, then open the view."""
    form = SavedViewCreateForm(data=request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            view = saved_view_create(
                owner=request.user, page=data["page"], name=data["name"], shared=data["shared"],
                query=QueryDict(data["query"]),
            )  # fmt: skip
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"View “{view.name}” saved.")
            return redirect(view_url(view))
    return render(request, FORM, {"form": form, "creating": True}, status=400)


@require_http_methods(["GET", "POST"])
@capability_required("view_conversations")
def saved_view_edit(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    """Rename a view or change whether it is shared."""
    view = saved_view_editable(view_id, request.user)
    form = SavedViewForm(
        data=request.POST if request.method == "POST" else None, initial={"name": view.name, "shared": view.shared}
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved_view_update(
                view=view, actor=request.user, name=form.cleaned_data["name"], shared=form.cleaned_data["shared"]
            )
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"View “{view.name}” saved.")
            return redirect("agents_admin:saved_view_list")
    return render(request, FORM, {"form": form, "view": view, "url": view_url(view)})


@require_http_methods(["GET", "POST"])
@capability_required("view_conversations")
def saved_view_delete_view(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    """Delete a view once confirmed (a signed token); the threads it shows are not touched."""
    view = saved_view_editable(view_id, request.user)
    form = ConfirmForm(
        request.POST if request.method == "POST" else None, action="saved_view.delete", target=view.pk,
        user_id=request.user.pk,
    )  # fmt: skip
    if confirmed(request, form):
        saved_view_delete(view=view, actor=request.user)
        messages.success(request, f"View “{view.name}” deleted.")
        return redirect("agents_admin:saved_view_list")
    shared = " It is shared: it goes for everyone." if view.shared else ""
    confirmation = Confirmation(
        title=f"Delete the view “{view.name}”?",
        effects=[
            f"The saved view “{view.name}” ({view.get_page_display()}) is deleted.{shared}",
            "The threads it lists are not changed.",
        ],
        button="Delete view",
        action=reverse("agents_admin:saved_view_delete", args=[view.pk]),
        cancel=reverse("agents_admin:saved_view_list"),
        form=form,
    )
    return render_confirm(request, confirmation)
