from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from agents_admin.views.auth import ThrottledLoginView
from agents_admin.views.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("django-admin/", admin.site.urls),
    path("api/", include("agents_admin.api.urls")),
    path("", include("agents_admin.urls")),
]
