from __future__ import annotations

from django.urls import path

from agents_admin.views import api_keys

app_name = "agents_admin"

urlpatterns: list = [
    path("settings/api-keys/", api_keys.api_keys, name="api_keys"),
    path("settings/api-keys/new/", api_keys.api_key_new, name="api_key_new"),
    path("settings/api-keys/revoke/", api_keys.api_key_revoke_view, name="api_key_revoke"),
]
