from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from agents_admin.forms.accounts import TotpCodeForm
from agents_admin.lib import oidc
from agents_admin.lib.oidc import Provider
from agents_admin.services.accounts import totp_device, totp_verify
from agents_admin.services.audit import audit_record, client_ip
from agents_admin.services.entra import SignInRefused, entra_provider, entra_user_for_claims
from agents_admin.services.throttle import signin_failed, signin_succeeded, signin_wait

logger = logging.getLogger(__name__)


# The session key of a sign-in whose password was right and whose second-factor code is awaited.
PENDING_CODE = "signin_pending_code"
# How long the code step waits after the password before the person must start again.
PENDING_CODE_SECONDS = 300


def _too_many(wait: int) -> str:
    shown = f"{wait} seconds" if wait < 120 else f"{(wait + 59) // 60} minutes"
    return f"Too many failed sign-ins. Try again in {shown}."


class ThrottledLoginView(LoginView):
    """Django's sign-in, answering 429 with the wait while repeated failures delay the next attempt
    (services/throttle.py: progressive delays, never a lockout anyone can trigger). An account with a second
    factor is not signed in by its password: the code step (``login_code``) does that."""

    awaiting_code = False

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")
        ip = client_ip(request)
        wait = signin_wait(username=username, ip=ip)
        if wait:
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, _too_many(wait))
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(wait)
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form was re-rendered with an error
            signin_failed(username=username, ip=ip)
        elif not self.awaiting_code:  # past the password only: the failures are forgotten once the code is right
            signin_succeeded(username=username, ip=ip)
        return response

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if totp_device(user) is None:
            return super().form_valid(form)
        self.awaiting_code = True
        self.request.session[PENDING_CODE] = {
            "user": user.pk, "backend": user.backend, "username": user.get_username(),  # type: ignore[attr-defined]
            "next": self.get_success_url(), "at": int(time.time()),
        }  # fmt: skip
        return redirect("login_code")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["entra_enabled"] = entra_provider() is not None
        return context


@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step of a password sign-in with a second factor: the app's current code. Wrong codes count as
    failed sign-ins of the account (the same throttle as passwords); five minutes after the password, start again."""
    pending = request.session.get(PENDING_CODE)
    if not pending or time.time() - pending["at"] > PENDING_CODE_SECONDS:
        request.session.pop(PENDING_CODE, None)
        return redirect("login")
    username, ip = pending["username"], client_ip(request)
    form = TotpCodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        wait = signin_wait(username=username, ip=ip)
        user = User.objects.filter(pk=pending["user"], is_active=True).first()
        device = totp_device(user) if user is not None else None
        if wait:
            form.errors.clear()
            form.add_error(None, _too_many(wait))
            status = 429
        elif (
            form.is_valid()
            and user is not None
            and device is not None
            and totp_verify(device=device, token=form.cleaned_data["token"])
        ):
            del request.session[PENDING_CODE]
            login(request, user, backend=pending["backend"])
            signin_succeeded(username=username, ip=ip)
            return redirect(pending["next"] or settings.LOGIN_REDIRECT_URL)
        else:
            signin_failed(username=username, ip=ip)
            audit_record(
                action="auth.sign_in_failed", actor_label=f"anonymous ({username})"[:150], object_type="user",
                object_id=username[:64], request=request, after={"reason": "wrong second-factor code"},
            )  # fmt: skip
            if not form.errors:
                form.add_error("token", "That code is not right. Enter the 6 digits your app shows now.")
    response = render(request, "registration/login_code.html", {"form": form, "username": username}, status=status)
    if status == 429:
        response["Retry-After"] = str(wait)
    return response


# --- sign-in with Microsoft Entra ID (OpenID Connect) ------------------------------------------------------

SESSION_KEY = "entra_signin"
DISCOVERY_CACHE_SECONDS = 3600


def _configuration(provider: Provider) -> dict[str, Any]:
    key = f"oidc-discovery:{provider.issuer}"
    configuration = cache.get(key)
    if configuration is None:
        configuration = oidc.discover(provider)
        cache.set(key, configuration, DISCOVERY_CACHE_SECONDS)
    return configuration


def _redirect_uri(request: HttpRequest) -> str:
    return settings.ENTRA_REDIRECT_URI or request.build_absolute_uri(reverse("entra_callback"))


def _refused(request: HttpRequest, message: str, *, username: str = "") -> HttpResponse:
    audit_record(
        action="auth.sign_in_failed", actor_label=f"entra ({username or 'unknown'})"[:150], object_type="user",
        object_id=username[:64], request=request, after={"reason": message[:200]},
    )  # fmt: skip
    context = {"form": AuthenticationForm(request), "entra_enabled": True, "entra_error": message, "next": ""}
    return render(request, "registration/login.html", context, status=403)


@require_GET
def entra_login(request: HttpRequest) -> HttpResponse:
    """Send the browser to the provider, remembering state, nonce and PKCE verifier in the session."""
    provider = entra_provider()
    if provider is None:
        raise Http404("Sign-in with Microsoft Entra ID is not configured.")
    try:
        begin = oidc.start(provider, _configuration(provider), redirect_uri=_redirect_uri(request))
    except oidc.OIDCError as error:
        logger.warning("entra sign-in unavailable: %s", error)
        return _refused(request, f"Sign-in with Microsoft is unavailable: {error}")
    wanted = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    request.session[SESSION_KEY] = {
        "state": begin.state, "nonce": begin.nonce, "verifier": begin.verifier, "next": wanted if safe else "",
    }  # fmt: skip
    return redirect(begin.url)


@require_GET
def entra_callback(request: HttpRequest) -> HttpResponse:
    """The provider sends the browser back here with a code; verify it all, then sign the person in."""
    provider = entra_provider()
    if provider is None:
        raise Http404("Sign-in with Microsoft Entra ID is not configured.")
    pending = request.session.pop(SESSION_KEY, None)
    state = request.GET.get("state", "")
    if not pending or not state or not constant_time_compare(state, pending["state"]):
        return _refused(request, "This sign-in link is stale or was not started here; please try again.")
    if request.GET.get("error"):
        return _refused(request, f"Microsoft refused the sign-in ({request.GET['error'][:100]}).")
    try:
        claims = oidc.finish(
            provider, _configuration(provider), code=request.GET.get("code", ""), redirect_uri=_redirect_uri(request),
            verifier=pending["verifier"], nonce=pending["nonce"],
        )  # fmt: skip
        user = entra_user_for_claims(claims=claims)
    except oidc.OIDCError as error:
        logger.warning("entra sign-in failed: %s", error)
        return _refused(request, f"Sign-in with Microsoft failed: {error}")
    except SignInRefused as refused:
        return _refused(request, str(refused), username=str(claims.get("preferred_username") or ""))
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(pending["next"] or settings.LOGIN_REDIRECT_URL)
