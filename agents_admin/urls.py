from __future__ import annotations

from django.urls import path

from agents_admin.views import exports, placeholders, review, search

app_name = "agents_admin"

urlpatterns: list = []

# Support review: search, jump, notes, flags, exports (issue 7).
urlpatterns += [
    path("search/", search.search, name="search"),
    path("jump/", search.jump, name="jump"),
    path("threads/<str:thread_id>/notes/", review.thread_notes, name="thread_notes"),
    path("threads/<str:thread_id>/flags/", review.thread_flags, name="thread_flags"),
    path("threads/<str:thread_id>/export/", exports.thread_export, name="thread_export"),
    path("exports/threads/", exports.threads_export, name="threads_export"),
    path("exports/", exports.export_start, name="export_start"),
    path("exports/<int:job_id>/", exports.export_job, name="export_job"),
    path("exports/<int:job_id>/download/", exports.export_download, name="export_download"),
]

# Placeholders for the console branch's pages (base.html links to them). DELETE at merge, with views/placeholders.py.
urlpatterns += [
    path("", placeholders.placeholder, name="home"),
    path("agents/", placeholders.placeholder, name="agent_list"),
    path("agents/<str:agent_id>/", placeholders.placeholder, name="agent_edit"),
    path("threads/", placeholders.placeholder, name="thread_list"),
    path("threads/<str:thread_id>/", placeholders.placeholder, name="thread_detail"),
    path("threads/<str:thread_id>/runs/<str:run_id>/", placeholders.placeholder, name="run_panel"),
]
