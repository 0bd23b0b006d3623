"""Guard rails on retention: "Run now" needs a recent dry run of the same selection or the policy's name typed,
checked on the server; a new policy starts disabled and can be enabled only after a dry run."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents_admin.errors import InvalidInput
from agents_admin.models import PurgeReport, RetentionPolicy, Thread, ThreadHold
from agents_admin.services import retention
from tests.retention_helpers import make_aged_thread, make_policy

pytestmark = pytest.mark.django_db


def run_now(client: Client, policy: RetentionPolicy, **data: object):
    return client.post(reverse("agents_admin:retention_policy_run", args=[policy.pk]), data)


def dry_run(policy: RetentionPolicy) -> PurgeReport:
    report = retention.purge_start(policy=policy, trigger="manual", dry_run=True, enqueue=False)
    retention.purge_execute(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == "completed"
    return report


def test_run_now_without_a_dry_run_or_the_name_is_refused_and_queues_nothing(admin_client: Client) -> None:
    policy = make_policy(name="Trim everything")
    response = run_now(admin_client, policy)
    body = response.content.decode()
    assert response.status_code == 400
    assert "needs a dry run of the same selection in the last hour" in body
    assert 'id="id_confirm_name_error"' in body  # the error sits beside the name field
    assert not PurgeReport.objects.exists()


def test_a_wrong_name_is_refused(admin_client: Client) -> None:
    policy = make_policy(name="Trim everything")
    assert run_now(admin_client, policy, confirm_name="trim everything").status_code == 400
    assert not PurgeReport.objects.exists()


def test_typing_the_policy_name_runs_it_without_a_dry_run(admin_client: Client) -> None:
    policy = make_policy(name="Trim everything")
    response = run_now(admin_client, policy, confirm_name="Trim everything")
    report = PurgeReport.objects.get()
    assert response.status_code == 302 and not report.dry_run and report.cutoff is None


def test_a_fresh_dry_run_vouches_for_run_now_and_the_button_states_the_counts(admin_client: Client) -> None:
    policy = make_policy(name="Stale")
    for _ in range(3):
        make_aged_thread(days=40, messages=4)
    held = make_aged_thread(days=40)
    ThreadHold.objects.create(thread=held, reason="litigation")
    preview = dry_run(policy)
    page = admin_client.get(reverse("agents_admin:retention_policy_detail", args=[policy.pk])).content.decode()
    assert "Run now: deletes 3 threads, 12 messages; 1 held thread is skipped" in page
    response = run_now(admin_client, policy, preview=preview.pk)
    assert response.status_code == 302
    assert PurgeReport.objects.get(dry_run=False).cutoff == preview.cutoff


def test_a_dry_run_older_than_an_hour_no_longer_vouches(admin_client: Client) -> None:
    policy = make_policy()
    preview = dry_run(policy)
    PurgeReport.objects.filter(pk=preview.pk).update(finished_at=timezone.now() - timedelta(minutes=61))
    response = run_now(admin_client, policy, preview=preview.pk)
    assert response.status_code == 400 and "more than an hour old" in response.content.decode()
    assert not PurgeReport.objects.filter(dry_run=False).exists()
    page = admin_client.get(reverse("agents_admin:retention_policy_detail", args=[policy.pk])).content.decode()
    assert "Run now anyway" in page


def test_a_dry_run_of_a_different_selection_no_longer_vouches(admin_client: Client) -> None:
    policy = make_policy(days=30)
    preview = dry_run(policy)
    retention.policy_save(policy=policy, actor=None, name=policy.name, project=None, days=10, daily_at=policy.daily_at)
    assert run_now(admin_client, policy, preview=preview.pk).status_code == 400
    assert not PurgeReport.objects.filter(dry_run=False).exists()
    # A change that leaves the selection alone (the schedule) keeps the dry run valid.
    second = dry_run(policy)
    retention.policy_save(
        policy=policy, actor=None, name=policy.name, project=None, days=10, schedule="interval", every_hours=6
    )
    assert run_now(admin_client, policy, preview=second.pk).status_code == 302


def test_a_dry_run_of_another_policy_does_not_vouch(admin_client: Client) -> None:
    policy = make_policy(name="One", project=None)
    other = make_policy(name="Two", project=make_aged_thread(days=1).project)
    preview = dry_run(other)
    assert run_now(admin_client, policy, preview=preview.pk).status_code == 400
    assert Thread.objects.exists()


def test_a_new_policy_starts_disabled_and_is_enabled_only_after_a_dry_run(admin_client: Client) -> None:
    policy = make_policy(enabled=False)
    assert not policy.enabled and policy.next_run_at is None
    enable = reverse("agents_admin:retention_policy_enable", args=[policy.pk])
    page = admin_client.get(reverse("agents_admin:retention_policy_detail", args=[policy.pk])).content.decode()
    assert "Run a dry run first" in page
    admin_client.post(enable, {"enabled": "on"})
    policy.refresh_from_db()
    assert not policy.enabled and policy.next_run_at is None
    dry_run(policy)
    response = admin_client.post(enable, {"enabled": "on"})
    policy.refresh_from_db()
    assert response.status_code == 302 and policy.enabled and policy.next_run_at is not None
    admin_client.post(enable, {})
    policy.refresh_from_db()
    assert not policy.enabled and policy.next_run_at is None


def test_the_edit_form_refuses_to_enable_before_a_dry_run_beside_the_field(admin_client: Client) -> None:
    policy = make_policy(enabled=False)
    data = {"name": policy.name, "project": "", "criterion": "inactive_days", "days": "30", "action": "delete"}
    data |= {"schedule": "daily", "daily_at": "03:00", "enabled": "on"}
    response = admin_client.post(reverse("agents_admin:retention_policy_edit", args=[policy.pk]), data)
    assert response.status_code == 200 and 'id="id_enabled_error"' in response.content.decode()
    policy.refresh_from_db()
    assert not policy.enabled


def test_the_service_refuses_a_new_policy_saved_enabled() -> None:
    with pytest.raises(InvalidInput) as refused:
        retention.policy_save(policy=None, actor=None, name="x", project=None, days=3, daily_at=time(3), enabled=True)
    assert refused.value.param == "enabled" and not RetentionPolicy.objects.exists()
