from __future__ import annotations

from django.urls import path

from agents_admin.views import agents, home, threads

app_name = "agents_admin"

urlpatterns: list = [
    path("", home.home, name="home"),
    path("agents/", agents.agent_list, name="agent_list"),
    path("agents/new/", agents.agent_create_view, name="agent_create"),
    path("agents/<str:agent_id>/", agents.agent_edit, name="agent_edit"),
    path("agents/<str:agent_id>/delete/", agents.agent_delete_view, name="agent_delete"),
    path("agents/<str:agent_id>/versions/", agents.agent_versions, name="agent_versions"),
    path("threads/", threads.thread_list, name="thread_list"),
    path("threads/new/", threads.thread_create_view, name="thread_create"),
    path("threads/<str:thread_id>/", threads.thread_detail, name="thread_detail"),
    path("threads/<str:thread_id>/delete/", threads.thread_delete_view, name="thread_delete"),
    path("threads/<str:thread_id>/messages/", threads.message_add, name="message_add"),
    path("threads/<str:thread_id>/runs/", threads.run_start, name="run_start"),
    path("threads/<str:thread_id>/runs/<str:run_id>/", threads.run_panel, name="run_panel"),
    path("threads/<str:thread_id>/runs/<str:run_id>/cancel/", threads.run_cancel_view, name="run_cancel"),
    path("threads/<str:thread_id>/runs/<str:run_id>/tool-outputs/", threads.run_tool_outputs, name="run_tool_outputs"),
]
