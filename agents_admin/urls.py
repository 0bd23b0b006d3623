from __future__ import annotations

from django.urls import path

from agents_admin.views import connections, needs_action

app_name = "agents_admin"

urlpatterns: list = [
    path("settings/connections/", connections.connection_list, name="connection_list"),
    path("settings/connections/new/", connections.connection_create_view, name="connection_create"),
    path("settings/connections/<int:connection_id>/", connections.connection_edit, name="connection_edit"),
    path(
        "settings/connections/<int:connection_id>/delete/",
        connections.connection_delete_view,
        name="connection_delete",
    ),
    path("settings/connections/<int:connection_id>/test/", connections.connection_test_view, name="connection_test"),
    path("runs/needs-action/", needs_action.needs_action, name="needs_action"),
]
