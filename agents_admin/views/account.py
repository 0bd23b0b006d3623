"""The signed-in person's own account: change password, and the optional second factor (set up, turn off)."""

from __future__ import annotations

from typing import cast

import segno
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from agents_admin.errors import ServiceError
from agents_admin.forms.accounts import TotpCodeForm
from agents_admin.forms.confirm import ConfirmForm
from agents_admin.services.accounts import (
    password_change,
    totp_device,
    totp_enrol_confirm,
    totp_enrol_start,
    totp_remove,
    totp_secret,
    user_profile_get,
)
from agents_admin.views.access import signed_in
from agents_admin.views.common import Confirmation, HtmxHttpRequest, confirmed, render_confirm, render_page


def _me(request: HtmxHttpRequest) -> User:
    """The signed-in person (every view here is ``@signed_in``)."""
    return cast(User, request.user)


@require_GET
@signed_in
def account(request: HtmxHttpRequest) -> HttpResponse:
    user = _me(request)
    context = {"has_password": user.has_usable_password(), "totp_on": totp_device(user) is not None}
    return render_page(request, "agents_admin/account.html", context, partial="account")


@never_cache
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
@signed_in
def password_change_view(request: HtmxHttpRequest) -> HttpResponse:
    """Reachable while a forced change is pending (the middleware sends every other page here)."""
    user = _me(request)
    form = PasswordChangeForm(user, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            password_change(user=user, new_password=form.cleaned_data["new_password1"], request=request)
        except ServiceError as error:
            form.add_error("new_password1", error.message)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, "Your password is changed. Your other sessions are signed out.")
            return redirect("agents_admin:home")
    context = {"form": form, "forced": user_profile_get(user).must_change_password}
    return render_page(request, "agents_admin/password_change.html", context, partial="form")


def _qr_svg(device: TOTPDevice) -> str:
    """The otpauth URI as an inline SVG of plain paths: no script and no style attribute, so the strict CSP holds."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#111", light="#fff")


def _setup_page(request: HtmxHttpRequest, device: TOTPDevice, form: TotpCodeForm) -> HttpResponse:
    context = {"device": device, "qr": _qr_svg(device), "secret": totp_secret(device), "uri": device.config_url}
    return render_page(request, "agents_admin/otp_setup.html", {**context, "form": form}, partial="setup")


@never_cache  # the page carries the secret
@require_http_methods(["GET", "POST"])
@signed_in
def otp_setup(request: HtmxHttpRequest) -> HttpResponse:
    """GET: what it is and a Start button. POST ``start``: a fresh secret, shown with its QR code until the first
    right code turns it on; POST ``token``: that code."""
    user = _me(request)
    if totp_device(user) is not None:
        messages.info(request, "Two-factor sign-in is already on.")
        return redirect("agents_admin:account")
    if request.method == "GET":
        return render_page(request, "agents_admin/otp_setup.html", {"device": None}, partial="setup")
    if "start" in request.POST:
        try:
            device = totp_enrol_start(user=user)
        except ServiceError as error:
            messages.error(request, error.message)
            return redirect("agents_admin:account")
        return _setup_page(request, device, TotpCodeForm())
    pending = totp_device(user, confirmed=False)
    if pending is None:
        messages.error(request, "Start the set-up again: no set-up is under way.")
        return redirect("agents_admin:otp_setup")
    form = TotpCodeForm(request.POST)
    if form.is_valid():
        try:
            totp_enrol_confirm(user=user, token=form.cleaned_data["token"], request=request)
        except ServiceError as error:
            form.add_error("token", error.message)
        else:
            messages.success(request, "Two-factor sign-in is on: from now on, sign-in asks for a code.")
            return redirect("agents_admin:account")
    return _setup_page(request, pending, form)


@require_POST
@signed_in
def otp_disable(request: HtmxHttpRequest) -> HttpResponse:
    user = _me(request)
    confirm = ConfirmForm(request.POST, action="account.otp_disable", target=user.pk, user_id=user.pk)
    if not confirmed(request, confirm):
        return render_confirm(
            request,
            Confirmation(
                title="Turn off two-factor sign-in?",
                effects=[
                    "Sign-in asks only for your password again; a stolen password alone then gets into this account.",
                    "Your authenticator app's entry stops working; you can set up the second factor again later.",
                ],
                button="Turn off two-factor sign-in",
                action=reverse("agents_admin:otp_disable"),
                cancel=reverse("agents_admin:account"),
                form=confirm,
            ),
        )
    totp_remove(user=user, actor=user, request=request)
    messages.success(request, "Two-factor sign-in is off.")
    return redirect("agents_admin:account")
