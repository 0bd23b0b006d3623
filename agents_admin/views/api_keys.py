"""Settings > API keys: list project API keys, create one (its secret shown once), revoke one."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from agents_admin.errors import ServiceError
from agents_admin.forms.confirm import ConfirmForm
from agents_admin.models import ApiKey, Project
from agents_admin.services.api_keys import api_key_create, api_key_revoke
from agents_admin.services.projects import project_default
from agents_admin.views.access import capability_required
from agents_admin.views.common import Confirmation, confirmed, render_confirm

# Keys are few (people make them by hand); the page shows the newest ones and says when there are more.
PAGE_SIZE = 200


class ApiKeyForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("name"), to_field_name="name", empty_label=None)
    label = forms.CharField(max_length=100, required=False, help_text="What the key is for, e.g. 'CI pipeline'.")


class RevokeForm(forms.Form):
    key = forms.IntegerField(min_value=1)


def _page(request: HttpRequest, form: ApiKeyForm, new_secret: str | None = None, status: int = 200) -> HttpResponse:
    keys = list(ApiKey.objects.select_related("project", "created_by")[: PAGE_SIZE + 1])
    context = {"keys": keys[:PAGE_SIZE], "more": len(keys) > PAGE_SIZE, "form": form, "new_secret": new_secret}
    return render(request, "agents_admin/api_keys.html", context, status=status)


@require_GET
@capability_required("manage_api_keys")
def api_keys(request: HttpRequest) -> HttpResponse:
    return _page(request, ApiKeyForm(initial={"project": project_default()}))


@never_cache  # the response carries the new key, shown once: no browser or proxy may keep a copy
@require_POST
@capability_required("manage_api_keys")
def api_key_new(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        new = api_key_create(project=form.cleaned_data["project"], label=form.cleaned_data["label"], actor=request.user)
    except ServiceError as exc:
        form.add_error(exc.param if exc.param in form.fields else None, exc.message)
        return _page(request, form, status=400)
    # Rendered, not redirected: the secret must never sit in a URL, a session or a flash message.
    return _page(request, ApiKeyForm(initial={"project": new.api_key.project}), new_secret=new.secret)


def _revoke_confirmation(api_key: ApiKey, form: ConfirmForm) -> Confirmation:
    used = f"last used {api_key.last_used_at:%Y-%m-%d %H:%M} UTC" if api_key.last_used_at else "never used"
    label = f"“{api_key.label}”, " if api_key.label else ""
    return Confirmation(
        title=f"Revoke key {api_key.prefix}…?",
        effects=[
            f"The key ({label}project {api_key.project.name}, {used}) stops working at once: "
            "every call made with it gets 401 from now on.",
            "Revoking cannot be undone; whoever uses it will need a new key.",
        ],
        button="Revoke key",
        action=reverse("agents_admin:api_key_revoke"),
        cancel=reverse("agents_admin:api_keys"),
        form=form,
        hidden={"key": str(api_key.pk)},
    )


@require_POST
@capability_required("manage_api_keys")
def api_key_revoke_view(request: HttpRequest) -> HttpResponse:
    form = RevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a key to revoke.")
        return redirect("agents_admin:api_keys")
    api_key = get_object_or_404(ApiKey.objects.select_related("project"), pk=form.cleaned_data["key"])
    confirm = ConfirmForm(request.POST, action="api_key.revoke", target=api_key.pk, user_id=request.user.pk)
    if not api_key.revoked_at and not confirmed(request, confirm):
        return render_confirm(request, _revoke_confirmation(api_key, confirm))
    try:
        api_key_revoke(api_key=api_key, actor=request.user)
        messages.success(request, f"Key {api_key.prefix}… revoked; calls with it now get 401.")
    except ServiceError as exc:
        messages.info(request, exc.message)
    return redirect("agents_admin:api_keys")
