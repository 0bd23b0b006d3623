from __future__ import annotations

app_name = "agents_admin"

urlpatterns: list = []
