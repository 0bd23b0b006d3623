"""The REST API (Foundry Agents wire contract), mounted under /api/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "api"

urlpatterns: list[URLPattern | URLResolver] = []
