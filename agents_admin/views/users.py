"""User management for admins: list with roles, create (a one-time password shown once), change role,
deactivate and reactivate. Users are never deleted."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents_admin.errors import ServiceError
from agents_admin.forms.access import UserCreateForm, UserRoleForm
from agents_admin.forms.confirm import ConfirmForm
from agents_admin.selectors.access import user_get, user_list
from agents_admin.services.accounts import totp_device, totp_remove
from agents_admin.services.users import user_active_set, user_create, user_role, user_role_set
from agents_admin.views.access import capability_required
from agents_admin.views.common import Confirmation, HtmxHttpRequest, confirmed, render_confirm, render_page

FORM = "agents_admin/user_form.html"
can_manage = capability_required("manage_users")


@require_GET
@can_manage
def user_list_view(request: HtmxHttpRequest) -> HttpResponse:
    return render_page(request, "agents_admin/user_list.html", {"rows": user_list()}, partial="list")


@never_cache  # the response to a successful POST carries the one-time password
@require_http_methods(["GET", "POST"])
@can_manage
def user_create_view(request: HtmxHttpRequest) -> HttpResponse:
    form = UserCreateForm(data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user, password = user_create(**form.cleaned_data, actor=request.user)
        except ServiceError as error:
            form.add_service_error(error)
        else:
            # Shown once, in this response only; it is not stored in clear anywhere.
            return render_page(request, FORM, {"created": user, "password": password, "form": None}, partial="form")
    return render_page(request, FORM, {"form": form, "created": None}, partial="form")


@require_http_methods(["GET", "POST"])
@can_manage
def user_edit(request: HtmxHttpRequest, user_id: int) -> HttpResponse:
    target = user_get(user_id)
    form = UserRoleForm(data=request.POST if request.method == "POST" else None, initial={"role": user_role(target)})
    if request.method == "POST" and form.is_valid():
        try:
            user_role_set(user=target, role=form.cleaned_data["role"], actor=request.user)
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"{target.get_username()} is now {form.cleaned_data['role']}.")
            return redirect("agents_admin:user_edit", user_id=target.pk)
    totp_on = totp_device(target) is not None
    context = {"target": target, "form": form, "role": user_role(target), "totp_on": totp_on}
    return render_page(request, "agents_admin/user_edit.html", context, partial="form")


def _deactivate_confirmation(target: User, form: ConfirmForm) -> Confirmation:
    name = target.get_username()
    return Confirmation(
        title=f"Deactivate {name}?",
        effects=[
            f"{name} can no longer sign in, and their open sessions end at their next request.",
            f"Their role ({user_role(target) or 'none'}) and their history in the audit log stay; "
            "you can reactivate them from their page.",
        ],
        button=f"Deactivate {name}",
        action=reverse("agents_admin:user_active", args=[target.pk]),
        cancel=reverse("agents_admin:user_edit", args=[target.pk]),
        form=form,
        hidden={"active": "0"},
    )


@require_POST
@can_manage
def user_active(request: HtmxHttpRequest, user_id: int) -> HttpResponse:
    """Deactivate (``active=0``) or reactivate (``active=1``) a user; you cannot deactivate yourself."""
    target = user_get(user_id)
    active = request.POST.get("active") == "1"
    confirm = ConfirmForm(request.POST, action="user.deactivate", target=target.pk, user_id=request.user.pk)
    if not active and target.is_active and target.pk != request.user.pk and not confirmed(request, confirm):
        return render_confirm(request, _deactivate_confirmation(target, confirm))
    try:
        user_active_set(user=target, active=active, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{target.get_username()} {'reactivated' if active else 'deactivated'}.")
    return redirect("agents_admin:user_edit", user_id=target.pk)


@require_POST
@can_manage
def user_otp_reset(request: HtmxHttpRequest, user_id: int) -> HttpResponse:
    """Turn off a person's second factor (a lost phone): they sign in with their password alone and may set it up
    again."""
    target = user_get(user_id)
    name = target.get_username()
    confirm = ConfirmForm(request.POST, action="user.otp_reset", target=target.pk, user_id=request.user.pk)
    if not confirmed(request, confirm):
        return render_confirm(
            request,
            Confirmation(
                title=f"Reset {name}'s second factor?",
                effects=[
                    f"{name}'s authenticator app stops working here; they sign in with their password alone.",
                    "They can set up two-factor sign-in again from their account page. The reset is in the audit log.",
                ],
                button=f"Reset {name}'s second factor",
                action=reverse("agents_admin:user_otp_reset", args=[target.pk]),
                cancel=reverse("agents_admin:user_edit", args=[target.pk]),
                form=confirm,
            ),
        )
    if totp_remove(user=target, actor=request.user, request=request):
        messages.success(request, f"{name}'s second factor is reset.")
    else:
        messages.info(request, f"{name} had no second factor.")
    return redirect("agents_admin:user_edit", user_id=target.pk)
