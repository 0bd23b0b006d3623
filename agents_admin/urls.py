from __future__ import annotations

from django.urls import path

from agents_admin.views import remote_projects

app_name = "agents_admin"

urlpatterns: list = []

urlpatterns += [
    path("settings/remote-projects/", remote_projects.remote_project_list, name="remote_project_list"),
    path("settings/remote-projects/new/", remote_projects.remote_project_create_view, name="remote_project_create"),
    path("settings/remote-projects/<int:remote_id>/", remote_projects.remote_project_edit, name="remote_project_edit"),
    path(
        "settings/remote-projects/<int:remote_id>/test/",
        remote_projects.remote_project_test_view,
        name="remote_project_test",
    ),
    path(
        "settings/remote-projects/<int:remote_id>/sync/",
        remote_projects.remote_project_sync_view,
        name="remote_project_sync",
    ),
    path(
        "settings/remote-projects/<int:remote_id>/syncs/",
        remote_projects.remote_project_syncs,
        name="remote_project_syncs",
    ),
    path(
        "settings/remote-projects/<int:remote_id>/export.jsonl",
        remote_projects.remote_project_export,
        name="remote_project_export",
    ),
    path(
        "settings/remote-projects/<int:remote_id>/syncs/<int:sync_id>/",
        remote_projects.remote_sync_detail,
        name="remote_sync_detail",
    ),
]
