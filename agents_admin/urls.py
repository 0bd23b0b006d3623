from __future__ import annotations

from django.urls import path

from agents_admin.views import (
    account,
    agents,
    api_keys,
    audit,
    connections,
    exports,
    home,
    profiles,
    remote,
    retention,
    review,
    review_queues,
    runs,
    search,
    threads,
    traces,
    usage,
    users,
    vector_stores,
)

app_name = "agents_admin"

urlpatterns: list = [
    path("vector-stores/", vector_stores.vector_store_list, name="vector_store_list"),
    path("vector-stores/new/", vector_stores.vector_store_create_view, name="vector_store_create"),
    path("vector-stores/<str:store_id>/", vector_stores.vector_store_detail, name="vector_store_detail"),
    path("vector-stores/<str:store_id>/delete/", vector_stores.vector_store_delete_view, name="vector_store_delete"),
    path("settings/connections/", connections.connection_list, name="connection_list"),
    path("settings/connections/new/", connections.connection_create_view, name="connection_create"),
    path("settings/connections/<int:connection_id>/", connections.connection_edit, name="connection_edit"),
    path(
        "settings/connections/<int:connection_id>/delete/",
        connections.connection_delete_view,
        name="connection_delete",
    ),
    path("settings/connections/<int:connection_id>/test/", connections.connection_test_view, name="connection_test"),
    path("settings/users/", users.user_list_view, name="user_list"),
    path("settings/users/new/", users.user_create_view, name="user_create"),
    path("settings/users/<int:user_id>/", users.user_edit, name="user_edit"),
    path("settings/users/<int:user_id>/active/", users.user_active, name="user_active"),
    path("settings/users/<int:user_id>/two-factor/reset/", users.user_otp_reset, name="user_otp_reset"),
    path("account/", account.account, name="account"),
    path("account/password/", account.password_change_view, name="password_change"),
    path("account/two-factor/", account.otp_setup, name="otp_setup"),
    path("account/two-factor/disable/", account.otp_disable, name="otp_disable"),
    path("audit/", audit.audit_list, name="audit_list"),
    path("audit/export.csv", audit.audit_export, name="audit_export"),
    path("settings/api-keys/", api_keys.api_keys, name="api_keys"),
    path("settings/api-keys/new/", api_keys.api_key_new, name="api_key_new"),
    path("settings/api-keys/revoke/", api_keys.api_key_revoke_view, name="api_key_revoke"),
    path("runs/needs-action/", runs.needs_action, name="needs_action"),
    path("usage/", usage.usage, name="usage"),
    path("usage/data.json", usage.usage_data, name="usage_data"),
    path("usage/csv/<str:chart>/", usage.usage_csv, name="usage_csv"),
    path("usage/runs/", usage.usage_runs, name="usage_runs"),
    path("usage/prices/", usage.price_list, name="price_list"),
    path("usage/prices/<int:price_id>/", usage.price_edit, name="price_edit"),
    path("usage/prices/<int:price_id>/delete/", usage.price_delete_view, name="price_delete"),
    path("", home.home, name="home"),
    path("agents/", agents.agent_list, name="agent_list"),
    path("agents/new/", agents.agent_create_view, name="agent_create"),
    path("agents/v2/", agents.agent_v2_names, name="agent_v2_names"),
    path("agents/v2/assign/", agents.agent_v2_names_assign_view, name="agent_v2_names_assign"),
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
    path("threads/<str:thread_id>/runs/<str:run_id>/trace/", traces.run_trace_view, name="run_trace"),
    path("threads/<str:thread_id>/runs/<str:run_id>/trace.json", traces.run_trace_json, name="run_trace_json"),
    path("threads/<str:thread_id>/runs/<str:run_id>/cancel/", threads.run_cancel_view, name="run_cancel"),
    path("threads/<str:thread_id>/runs/<str:run_id>/tool-outputs/", threads.run_tool_outputs, name="run_tool_outputs"),
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
    path(
        "retention/policies/<int:policy_id>/enable/", retention.retention_policy_enable, name="retention_policy_enable"
    ),
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

# Support review: search, jump, notes, flags, exports (issue 7).
urlpatterns += [
    path("account/time-zone/", profiles.time_zone_edit, name="time_zone"),
    path("search/", search.search, name="search"),
    path("jump/", search.jump, name="jump"),
    path("threads/<str:thread_id>/notes/", review.thread_notes, name="thread_notes"),
    path("threads/<str:thread_id>/flags/", review.thread_flags, name="thread_flags"),
    path(
        "threads/<str:thread_id>/messages/<str:message_id>/comments/",
        review.message_comments_view,
        name="message_comments",
    ),
    path(
        "threads/<str:thread_id>/messages/<str:message_id>/comments/new/",
        review.message_comment_add_view,
        name="message_comment_add",
    ),
    path(
        "threads/<str:thread_id>/comments/<int:comment_id>/edit/",
        review.message_comment_edit,
        name="message_comment_edit",
    ),
    path(
        "threads/<str:thread_id>/comments/<int:comment_id>/delete/",
        review.message_comment_delete_view,
        name="message_comment_delete",
    ),
    path("threads/<str:thread_id>/export/", exports.thread_export, name="thread_export"),
    path("exports/threads/", exports.threads_export, name="threads_export"),
    path("exports/", exports.export_start, name="export_start"),
    path("exports/<int:job_id>/", exports.export_job, name="export_job"),
    path("exports/<int:job_id>/download/", exports.export_download, name="export_download"),
]

urlpatterns += [
    path("settings/remote-projects/", remote.remote_project_list, name="remote_project_list"),
    path("settings/remote-projects/new/", remote.remote_project_create_view, name="remote_project_create"),
    path("settings/remote-projects/<int:remote_id>/", remote.remote_project_edit, name="remote_project_edit"),
    path(
        "settings/remote-projects/<int:remote_id>/test/",
        remote.remote_project_test_view,
        name="remote_project_test",
    ),
    path(
        "settings/remote-projects/<int:remote_id>/sync/",
        remote.remote_project_sync_view,
        name="remote_project_sync",
    ),
    path(
        "settings/remote-projects/<int:remote_id>/syncs/",
        remote.remote_project_syncs,
        name="remote_project_syncs",
    ),
    path(
        "settings/remote-projects/<int:remote_id>/export.jsonl",
        remote.remote_project_export,
        name="remote_project_export",
    ),
    path(
        "settings/remote-projects/<int:remote_id>/syncs/<int:sync_id>/",
        remote.remote_sync_detail,
        name="remote_sync_detail",
    ),
]

urlpatterns += [
    path("review/", review_queues.my_queue, name="my_queue"),
    path("review/queues/", review_queues.queue_list, name="review_queue_list"),
    path("review/queues/new/", review_queues.queue_create, name="review_queue_create"),
    path("review/queues/<int:queue_id>/", review_queues.queue_results, name="review_queue_results"),
    path("review/queues/<int:queue_id>/edit/", review_queues.queue_edit, name="review_queue_edit"),
    path("review/queues/<int:queue_id>/results.csv", review_queues.queue_results_csv, name="review_queue_csv"),
    path("review/queues/<int:queue_id>/next/", review_queues.item_next, name="review_next"),
    path("review/queues/<int:queue_id>/items/<int:item_id>/", review_queues.review_item, name="review_item"),
]
