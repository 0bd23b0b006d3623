from __future__ import annotations

from django.urls import path

from agents_admin.views import retention

app_name = "agents_admin"

urlpatterns: list = [
    path("retention/", retention.retention_policy_list, name="retention_policy_list"),
    path("retention/policies/new/", retention.retention_policy_create, name="retention_policy_create"),
    path("retention/policies/<int:policy_id>/", retention.retention_policy_detail, name="retention_policy_detail"),
    path("retention/policies/<int:policy_id>/edit/", retention.retention_policy_edit, name="retention_policy_edit"),
    path(
        "retention/policies/<int:policy_id>/delete/", retention.retention_policy_delete, name="retention_policy_delete"
    ),
    path(
        "retention/policies/<int:policy_id>/dry-run/",
        retention.retention_policy_dry_run,
        name="retention_policy_dry_run",
    ),
    path("retention/policies/<int:policy_id>/run/", retention.retention_policy_run, name="retention_policy_run"),
    path("retention/reports/", retention.purge_report_list, name="purge_report_list"),
    path("retention/reports/<int:report_id>/", retention.purge_report_detail, name="purge_report_detail"),
    path("retention/reports/<int:report_id>/stop/", retention.purge_report_stop, name="purge_report_stop"),
    path("retention/reports/<int:report_id>/resume/", retention.purge_report_resume, name="purge_report_resume"),
    path("retention/holds/", retention.hold_list, name="hold_list"),
    path("threads/<str:thread_id>/holds/", retention.thread_holds, name="thread_holds"),
    path("threads/<str:thread_id>/holds/place/", retention.thread_hold_place, name="thread_hold_place"),
    path(
        "threads/<str:thread_id>/holds/<int:hold_id>/release/",
        retention.thread_hold_release,
        name="thread_hold_release",
    ),
]
