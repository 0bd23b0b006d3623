"""Console pages for retention: full pages and htmx partials, forms with errors beside fields, buttons."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents_admin.models import Project, PurgeReport, RetentionPolicy, Thread, ThreadHold
from agents_admin.services import retention
from tests.factories import make_project
from tests.retention_helpers import indexed_store, make_aged_thread, make_policy

HX = {"HTTP_HX_REQUEST": "true"}


def form_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Stale",
        "project": "",
        "criterion": "inactive_days",
        "days": "30",
        "action": "delete",
        "schedule": "daily",
        "daily_at": "03:00",
        "enabled": "on",
    }
    data.update(overrides)
    return data


def test_console_pages_need_a_signed_in_user(anon_client: Client, db: None) -> None:
    for name in ("retention_policy_list", "purge_report_list", "hold_list"):
        response = anon_client.get(reverse(f"agents_admin:{name}"))
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_policy_list_shows_effective_days_and_the_nav_line(admin_client: Client) -> None:
    make_policy(name="Default", days=30)
    make_policy(name="Sales", project=make_project("sales"), days=10)
    response = admin_client.get(reverse("agents_admin:retention_policy_list"))
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body
    assert ">Retention</a>" in body and "Default" in body and "Sales" in body and "10 days" in body


def test_creating_a_policy_redirects_to_its_page(admin_client: Client) -> None:
    response = admin_client.post(reverse("agents_admin:retention_policy_create"), form_data())
    policy = RetentionPolicy.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("agents_admin:retention_policy_detail", args=[policy.pk])
    assert policy.days == 30 and policy.project is None
    # A new policy starts disabled (the form has no "enabled" box; a posted one is ignored) until a dry run.
    assert not policy.enabled and policy.next_run_at is None


def test_a_less_strict_project_policy_is_refused_beside_the_days_field(admin_client: Client) -> None:
    make_policy(name="Default", days=30)
    project = make_project("sales")
    response = admin_client.post(
        reverse("agents_admin:retention_policy_create"), form_data(name="Sales", project=project.pk, days="90")
    )
    body = response.content.decode()
    assert response.status_code == 200 and 'id="id_days_error"' in body and "only be stricter" in body
    assert RetentionPolicy.objects.count() == 1


def user_with(username: str, *codenames: str) -> User:
    """A user holding these console capabilities (the permission rows exist once roles are migrated)."""
    user = User.objects.create_user(username, password="x-pass-123")
    content_type = ContentType.objects.get_for_model(Project)
    for codename in codenames:
        permission, _ = Permission.objects.get_or_create(
            codename=codename, content_type=content_type, defaults={"name": codename}
        )
        user.user_permissions.add(permission)
    return User.objects.get(pk=user.pk)


def test_a_retention_manager_cannot_allow_less_strict_but_a_superuser_can(admin_client: Client, client: Client) -> None:
    make_policy(name="Default", days=30)
    project = make_project("legal")
    client.force_login(user_with("manager", "manage_retention"))
    data = form_data(name="Legal", project=project.pk, days="365", allow_less_strict="on")
    refused = client.post(reverse("agents_admin:retention_policy_create"), data)
    assert refused.status_code == 200 and 'id="id_allow_less_strict_error"' in refused.content.decode()
    assert admin_client.post(reverse("agents_admin:retention_policy_create"), data).status_code == 302
    assert RetentionPolicy.objects.get(name="Legal").allow_less_strict


def test_capabilities_gate_policies_reports_and_holds(client: Client, db: None) -> None:
    policy = make_policy()
    thread = make_aged_thread(days=1)
    hold = retention.hold_place(thread=thread, reason="case", actor=None)
    client.force_login(user_with("reviewer", "view_conversations", "review_conversations"))
    assert client.get(reverse("agents_admin:retention_policy_list")).status_code == 403
    assert client.post(reverse("agents_admin:retention_policy_run", args=[policy.pk])).status_code == 403
    assert client.get(reverse("agents_admin:purge_report_list")).status_code == 403
    assert client.get(reverse("agents_admin:hold_list")).status_code == 200
    placed = client.post(reverse("agents_admin:thread_hold_place", args=[thread.pk]), {"reason": "please keep"})
    assert placed.status_code == 302 and ThreadHold.objects.filter(reason="please keep").exists()
    release = client.post(reverse("agents_admin:thread_hold_release", args=[thread.pk, hold.pk]))
    assert release.status_code == 403 and ThreadHold.objects.get(pk=hold.pk).released_at is None
    assert not PurgeReport.objects.exists()
    client.force_login(user_with("auditor", "view_audit"))
    assert client.get(reverse("agents_admin:purge_report_list")).status_code == 200
    assert client.get(reverse("agents_admin:retention_policy_list")).status_code == 403


def test_editing_a_policy_keeps_errors_beside_fields_and_saves_valid_input(admin_client: Client) -> None:
    policy = make_policy(name="Default")
    url = reverse("agents_admin:retention_policy_edit", args=[policy.pk])
    assert 'value="Default"' in admin_client.get(url).content.decode()
    bad = admin_client.post(url, form_data(name="Default", action="trim"))
    assert 'id="id_keep_last_messages_error"' in bad.content.decode()
    good = admin_client.post(url, form_data(name="Default", action="trim", keep_last_messages="5"))
    assert good.status_code == 302
    policy.refresh_from_db()
    assert policy.action == "trim" and policy.keep_last_messages == 5


def test_deleting_a_policy_keeps_its_reports(admin_client: Client) -> None:
    policy = make_policy()
    report = retention.purge_start(policy=policy, trigger="manual", enqueue=False)
    response = admin_client.post(reverse("agents_admin:retention_policy_delete", args=[policy.pk]))
    assert response.status_code == 302 and not RetentionPolicy.objects.exists()
    report.refresh_from_db()
    assert report.policy is None and report.policy_name == "Stale threads"


def test_dry_run_and_run_now_buttons_queue_reports(admin_client: Client, admin_user: User) -> None:
    policy = make_policy()
    dry = admin_client.post(reverse("agents_admin:retention_policy_dry_run", args=[policy.pk]))
    preview = PurgeReport.objects.get()
    assert dry["Location"] == reverse("agents_admin:purge_report_detail", args=[preview.pk])
    assert preview.dry_run and preview.status == "queued" and preview.triggered_by == admin_user
    retention.purge_execute(report_id=preview.pk)
    page = admin_client.get(reverse("agents_admin:retention_policy_detail", args=[policy.pk])).content.decode()
    assert "Dry run" in page and f'name="preview" value="{preview.pk}"' in page
    response = admin_client.post(
        reverse("agents_admin:retention_policy_run", args=[policy.pk]), {"preview": preview.pk}
    )
    assert response.status_code == 302
    real = PurgeReport.objects.get(dry_run=False)
    preview.refresh_from_db()
    assert real.cutoff == preview.cutoff and real.trigger == "manual"


def test_the_policy_page_shows_the_preview_figures(admin_client: Client) -> None:
    policy = make_policy()
    thread = make_aged_thread(days=40, messages=3)
    retention.purge_execute(
        report_id=retention.purge_start(policy=policy, trigger="manual", dry_run=True, enqueue=False).pk
    )
    body = admin_client.get(reverse("agents_admin:retention_policy_detail", args=[policy.pk])).content.decode()
    assert thread.pk in body and "<dd>3</dd>" in body
    assert Thread.objects.filter(pk=thread.pk).exists()


def test_the_report_list_is_newest_first_with_keyset_pages(admin_client: Client) -> None:
    policy = make_policy()
    reports = [retention.purge_start(policy=policy, trigger="manual", enqueue=False) for _ in range(55)]
    url = reverse("agents_admin:purge_report_list")
    full = admin_client.get(url).content.decode()
    assert "<html" in full and f"?before={reports[5].pk}" in full
    assert full.index(f">{reports[-1].pk}</a>") < full.index(f">{reports[-2].pk}</a>")
    partial = admin_client.get(url, {"before": reports[5].pk}, **HX).content.decode()
    assert "<html" not in partial and f">{reports[0].pk}</a>" in partial and "Older reports" not in partial


def test_a_running_report_polls_and_a_finished_one_stops(admin_client: Client) -> None:
    policy = make_policy()
    report = retention.purge_start(policy=policy, trigger="manual", enqueue=False)
    url = reverse("agents_admin:purge_report_detail", args=[report.pk])
    full = admin_client.get(url).content.decode()
    assert "<html" in full and 'hx-trigger="every 1s"' in full and "<progress" in full and "Stop" in full
    retention.purge_execute(report_id=report.pk)
    partial = admin_client.get(url, **HX).content.decode()
    assert "<html" not in partial and 'id="report-progress"' in partial
    assert "hx-trigger" not in partial and 'value="100"' in partial


def test_the_stop_button_asks_a_running_purge_to_stop_and_resume_queues_it(admin_client: Client) -> None:
    report = retention.purge_start(policy=make_policy(), trigger="manual", enqueue=False)
    PurgeReport.objects.filter(pk=report.pk).update(status="running")
    response = admin_client.post(reverse("agents_admin:purge_report_stop", args=[report.pk]), **HX)
    assert "<html" not in response.content.decode() and "stopping after this batch" in response.content.decode()
    report.refresh_from_db()
    assert report.stop_requested
    PurgeReport.objects.filter(pk=report.pk).update(status="stopped")
    full = admin_client.post(reverse("agents_admin:purge_report_resume", args=[report.pk]))
    assert "<html" in full.content.decode()
    report.refresh_from_db()
    assert report.status == "queued" and not report.stop_requested


def test_placing_and_releasing_a_hold_from_the_thread_pane(admin_client: Client, admin_user: User) -> None:
    thread = make_aged_thread(days=1)
    pane = reverse("agents_admin:thread_holds", args=[thread.pk])
    assert "<html" in admin_client.get(pane).content.decode()
    assert "<html" not in admin_client.get(pane, **HX).content.decode()
    placed = admin_client.post(
        reverse("agents_admin:thread_hold_place", args=[thread.pk]), {"reason": "Litigation <b>"}, **HX
    )
    body = placed.content.decode()
    assert "<html" not in body and "On hold" in body and "Litigation &lt;b&gt;" in body
    hold = ThreadHold.objects.get()
    assert hold.placed_by == admin_user and hold.is_active
    released = admin_client.post(reverse("agents_admin:thread_hold_release", args=[thread.pk, hold.pk]))
    assert released.status_code == 302 and released["Location"] == pane
    hold.refresh_from_db()
    assert hold.released_by == admin_user and not hold.is_active


def test_a_hold_without_a_reason_or_with_a_past_expiry_shows_the_error(admin_client: Client) -> None:
    thread = make_aged_thread(days=1)
    url = reverse("agents_admin:thread_hold_place", args=[thread.pk])
    no_reason = admin_client.post(url, {"reason": ""})
    assert "<html" in no_reason.content.decode() and "This field is required" in no_reason.content.decode()
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    expired = admin_client.post(url, {"reason": "x", "expires_at": past}, **HX).content.decode()
    assert "<html" not in expired and "must be in the future" in expired
    assert not ThreadHold.objects.exists()


def test_the_active_holds_page_lists_only_active_holds(admin_client: Client) -> None:
    held, released = make_aged_thread(days=1), make_aged_thread(days=1)
    retention.hold_place(thread=held, reason="audit 2026", actor=None)
    retention.hold_release(hold=retention.hold_place(thread=released, reason="old case", actor=None), actor=None)
    url = reverse("agents_admin:hold_list")
    full = admin_client.get(url).content.decode()
    assert "<html" in full and "audit 2026" in full and "old case" not in full
    partial = admin_client.get(url, **HX).content.decode()
    assert "<html" not in partial and held.pk in partial


def test_lists_cost_a_fixed_number_of_queries(admin_client: Client, django_assert_max_num_queries) -> None:
    policy = make_policy(name="Default")
    for index in range(30):
        make_policy(name=f"P{index}", project=make_project(f"p{index}"), days=10)
        retention.purge_start(policy=policy, trigger="manual", enqueue=False, actor=None)
        retention.hold_place(thread=make_aged_thread(days=1), reason=f"case {index}", actor=None)
    for name in ("retention_policy_list", "purge_report_list", "hold_list"):
        with django_assert_max_num_queries(8):
            assert admin_client.get(reverse(f"agents_admin:{name}")).status_code == 200


def test_a_vector_store_policy_from_the_form_to_its_dry_run_and_run(admin_client: Client) -> None:
    project = make_project()
    idle = indexed_store(project, idle_days=45, files=2)
    kept = indexed_store(project, idle_days=1)
    refused = admin_client.post(
        reverse("agents_admin:retention_policy_create"),
        form_data(name="Stores", target="vector_stores", project=project.pk, action="trim", keep_last_messages="3"),
    )
    assert refused.status_code == 200 and "choose Delete" in refused.content.decode()
    assert not RetentionPolicy.objects.exists()
    admin_client.post(
        reverse("agents_admin:retention_policy_create"),
        form_data(name="Stores", target="vector_stores", project=project.pk, days="30"),
    )
    policy = RetentionPolicy.objects.get()
    assert policy.target == "vector_stores" and not policy.enabled
    admin_client.post(reverse("agents_admin:retention_policy_dry_run", args=[policy.pk]))
    preview = PurgeReport.objects.get()
    retention.purge_execute(report_id=preview.pk)
    preview.refresh_from_db()
    page = admin_client.get(reverse("agents_admin:retention_policy_detail", args=[policy.pk])).content.decode()
    assert idle.id in page and kept.id not in page and "<dt>Chunks</dt>" in page
    assert f"Run now: deletes 1 vector store, 2 files, {preview.chunks} chunks" in page
    report = admin_client.get(reverse("agents_admin:purge_report_detail", args=[preview.pk])).content.decode()
    assert "candidate vector stores examined" in report
    admin_client.post(reverse("agents_admin:retention_policy_run", args=[policy.pk]), {"preview": preview.pk})
    real = PurgeReport.objects.get(dry_run=False)
    retention.purge_execute(report_id=real.pk)
    assert list(project.vector_stores.values_list("id", flat=True)) == [kept.id]
    listing = admin_client.get(reverse("agents_admin:purge_report_list")).content.decode()
    assert "deletes 1 vector store" in listing and "(vector stores)" in listing
