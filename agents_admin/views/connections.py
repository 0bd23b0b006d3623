"""Console pages for model connections (admins only): list, create, edit, delete, and a test call."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents_admin.errors import InvalidInput
from agents_admin.forms.confirm import ConfirmForm
from agents_admin.forms.connections import ConnectionForm
from agents_admin.models import ModelConnection
from agents_admin.services.audit import Actor
from agents_admin.services.connections import (
    connection_create,
    connection_delete,
    connection_test,
    connection_update,
)
from agents_admin.views.access import capability_required
from agents_admin.views.common import Confirmation, HtmxHttpRequest, confirmed, render_confirm

FORM_TEMPLATE = "agents_admin/connection_form.html"
# Connections hold credentials: only roles that manage them may see or change them.
can_manage = capability_required("manage_connections")
# Masked in Django's error reports, should a request ever fail with a server error.
SECRETS = ("api_key", "client_secret")


@require_GET
@can_manage
def connection_list(request: HttpRequest) -> HttpResponse:
    connections = ModelConnection.objects.select_related("project").order_by("name")
    return render(request, "agents_admin/connection_list.html", {"connections": connections})


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters(*SECRETS)
@can_manage
def connection_create_view(request: HttpRequest) -> HttpResponse:
    form = ConnectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        connection = _save(form, None, actor=request.user)
        if connection is not None:
            messages.success(request, f"Connection '{connection.name}' created.")
            return redirect("agents_admin:connection_edit", connection_id=connection.pk)
    return render(request, FORM_TEMPLATE, {"form": form, "connection": None})


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters(*SECRETS)
@can_manage
def connection_edit(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(ModelConnection, pk=connection_id)
    form = ConnectionForm(request.POST or None, initial=ConnectionForm.initial_for(connection))
    if request.method == "POST" and form.is_valid() and _save(form, connection, actor=request.user) is not None:
        messages.success(request, f"Connection '{connection.name}' saved.")
        return redirect("agents_admin:connection_edit", connection_id=connection.pk)
    return render(request, FORM_TEMPLATE, {"form": form, "connection": connection})


@require_POST
@can_manage
def connection_delete_view(request: HtmxHttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(ModelConnection, pk=connection_id)
    confirm = ConfirmForm(request.POST, action="connection.delete", target=connection.pk, user_id=request.user.pk)
    if not confirmed(request, confirm):
        agents = connection.agents.count()
        return render_confirm(
            request,
            Confirmation(
                title=f"Delete connection “{connection.name}”?",
                effects=[
                    "The connection and its stored secrets are deleted; it cannot be undone.",
                    f"{agents} agent{pluralize(agents)} chose it; their next runs use the next rule instead "
                    "(the connection mapping the model, the project's or the instance default, or the built-in "
                    "offline model).",
                ],
                button="Delete connection",
                action=reverse("agents_admin:connection_delete", args=[connection.pk]),
                cancel=reverse("agents_admin:connection_edit", args=[connection.pk]),
                form=confirm,
            ),
        )
    connection_delete(connection=connection, actor=request.user)
    messages.success(request, f"Connection '{connection.name}' deleted.")
    return redirect("agents_admin:connection_list")


@require_POST
@can_manage
def connection_test_view(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(ModelConnection, pk=connection_id)
    check = connection_test(connection=connection, model=request.POST.get("model", "").strip(), actor=request.user)
    context: dict[str, Any] = {"connection": connection, "check": check}
    if getattr(request, "htmx", False):
        return render(request, f"{FORM_TEMPLATE}#test_result", context)
    context["form"] = ConnectionForm(initial=ConnectionForm.initial_for(connection))
    return render(request, FORM_TEMPLATE, context)


def _save(form: ConnectionForm, connection: ModelConnection | None, *, actor: Actor) -> ModelConnection | None:
    """Call the service; on InvalidInput put the error beside its field and return None."""
    fields = dict(form.cleaned_data)
    try:
        if connection is None:
            return connection_create(fields=fields, actor=actor)
        return connection_update(connection=connection, fields=fields, actor=actor)
    except InvalidInput as exc:
        form.add_error(exc.param if exc.param in form.fields else None, exc.message)
        return None
