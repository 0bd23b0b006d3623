"""A deleted thread's URL answers 410 Gone naming when, how and by which purge report (to those who may read
purge reports); others, and ids never seen or whose tombstone was pruned, get the plain 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents_admin.models import PurgeReport, Run, ThreadTombstone
from agents_admin.roles import REVIEWER
from agents_admin.services import retention
from agents_admin.services.api_keys import api_key_create
from tests.confirm_helpers import confirm_post
from tests.factories import make_project, make_thread
from tests.personas import client_for, user_with_role
from tests.retention_helpers import make_aged_thread, make_policy

pytestmark = pytest.mark.django_db


def _page(client: Client, thread_id: str) -> tuple[int, str]:
    response = client.get(reverse("agents_admin:thread_detail", args=[thread_id]))
    return response.status_code, response.content.decode()


def test_a_thread_purged_by_a_policy_answers_410_naming_the_policy_the_day_and_the_report(
    admin_client: Client,
) -> None:
    thread = make_aged_thread(days=40, messages=3, runs=1)
    run_id = Run.objects.get(thread=thread).id
    policy = make_policy(days=30, name="Ninety-day sweep")
    report = retention.purge_execute(
        report_id=retention.purge_start(policy=policy, trigger="schedule", enqueue=False).pk
    )
    assert report is not None and report.threads == 1
    status, body = _page(admin_client, thread.id)
    assert status == 410
    assert "This thread was deleted" in body and thread.id in body
    assert "by the retention policy <strong>Ninety-day sweep</strong>" in body
    assert f'<time datetime="{ThreadTombstone.objects.get().deleted_at:%Y-%m-%d}' in body
    assert f'href="{reverse("agents_admin:purge_report_detail", args=[report.pk])}"' in body
    assert 'class="msg ' not in body and ">m0<" not in body  # nothing of the conversation
    # The run's own page under the thread says the same.
    assert admin_client.get(reverse("agents_admin:run_panel", args=[thread.id, run_id])).status_code == 410


def test_a_thread_deleted_from_the_console_or_the_api_names_who(admin_client: Client, admin_user: User) -> None:
    by_console = make_thread(messages=["hello"])
    done = confirm_post(admin_client, reverse("agents_admin:thread_delete", args=[by_console.id]))
    assert done.status_code == 302
    status, body = _page(admin_client, by_console.id)
    report = PurgeReport.objects.get(trigger="console-delete")
    assert status == 410 and f"from the console by <strong>{admin_user.username}</strong>" in body
    assert f"purge report #{report.pk}" in body

    by_api = make_thread(project=make_project(), messages=["hello"])
    key = api_key_create(project=make_project(), label="ops")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    gone = api.delete(f"/api/projects/default/threads/{by_api.id}?api-version=v1")
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    status, body = _page(admin_client, by_api.id)
    assert status == 410 and f"through the API by <strong>api-key:{key.secret[:12]}" in body


def test_those_who_may_not_read_reports_and_unknown_or_pruned_ids_get_a_plain_404(admin_client: Client) -> None:
    thread = make_thread(messages=["hello"])
    retention.thread_purge(thread=thread, trigger="console-delete")
    reviewer = client_for(user_with_role(REVIEWER, "rev"))
    status, body = _page(reviewer, thread.id)
    assert status == 404 and "This thread was deleted" not in body and "purge report" not in body
    assert _page(admin_client, "thread_neverexisted")[0] == 404
    ThreadTombstone.objects.update(deleted_at=timezone.now() - timedelta(days=400))
    assert retention.tombstones_prune() == 1
    assert _page(admin_client, thread.id)[0] == 404
