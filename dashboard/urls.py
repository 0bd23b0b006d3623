from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import include, path, reverse
from django.utils.http import urlencode

from agents_admin.views.auth import ThrottledLoginView, entra_callback, entra_login, login_code
from agents_admin.views.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("login/code/", login_code, name="login_code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("login/entra/", entra_login, name="entra_login"),
    path("login/entra/callback/", entra_callback, name="entra_callback"),
    path("api/", include("agents_admin.api.urls")),
    path("", include("agents_admin.urls")),
]


def admin_login(request: HttpRequest) -> HttpResponseRedirect:
    """The Django admin signs in through the console's throttled sign-in (and its second factor), not its own."""
    target = request.GET.get("next") or reverse("admin:index")
    return HttpResponseRedirect(f"{reverse('login')}?{urlencode({'next': target})}")


# Off unless DJANGO_ADMIN_ENABLED: a fallback for superusers, read-only for the app's data (agents_admin/admin.py).
ADMIN_PATTERNS = [
    path("django-admin/login/", admin_login),
    path("django-admin/", admin.site.urls),
]
if settings.DJANGO_ADMIN_ENABLED:
    urlpatterns = ADMIN_PATTERNS + urlpatterns
