"""The audit page: filters in the query string, keyset pages by (at, id) without gaps or COUNT, full page and
partial; the Django admin shows the log read-only."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents_admin.models import AuditEvent
from agents_admin.roles import roles_sync
from agents_admin.selectors.access import audit_page
from agents_admin.services.audit import audit_record

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
URL = reverse("agents_admin:audit_list")


@pytest.fixture
def auditor_client() -> Client:
    roles_sync()
    user = User.objects.create_user("audrey", password="pw-1234567890")
    user.groups.add(Group.objects.get(name="Auditor"))
    client = Client()
    client.force_login(user)
    return client


def test_an_auditor_sees_events_newest_first_as_page_and_partial(auditor_client: Client) -> None:
    audit_record(action="agent.create", actor_label="first", object_id="asst_1")
    audit_record(action="agent.delete", actor_label="second", object_id="asst_1")
    body = auditor_client.get(URL).content.decode()
    assert "<html" in body and body.index("second") < body.index("first")
    partial = auditor_client.get(URL, **HX).content.decode()
    assert "<html" not in partial and 'id="audit-results"' in partial and "agent.delete" in partial


def test_the_page_filters_by_actor_action_object_and_date(auditor_client: Client, admin_user: User) -> None:
    audit_record(action="agent.create", actor=admin_user, object_id="asst_A")
    audit_record(action="agent.delete", actor=admin_user, object_id="asst_B")
    audit_record(action="agent.create", actor_label="api-key:ak_1", object_id="asst_C")
    ten_days_ago = timezone.now() - timedelta(days=10)
    with mock.patch("django.utils.timezone.now", return_value=ten_days_ago):  # the table is append-only
        audit_record(action="agent.create", actor_label="cli", object_id="asst_D")

    def ids(**query: str) -> list[str]:
        page = auditor_client.get(URL, query).context["page"]
        # (the auditor's own sign-in is in the log too)
        return sorted(e.object_id for e in page.events if e.action != "auth.sign_in")

    assert ids(actor="admin") == ["asst_A", "asst_B"]
    assert ids(actor="api-key:ak_1") == ["asst_C"]
    assert ids(action="agent.create") == ["asst_A", "asst_C", "asst_D"]
    assert ids(object_id="asst_B") == ["asst_B"]
    today = timezone.localdate().isoformat()
    assert ids(date_from=today, date_to=today) == ["asst_A", "asst_B", "asst_C"]
    earlier = (timezone.localdate() - timedelta(days=10)).isoformat()
    assert ids(date_to=earlier) == ["asst_D"]


def test_a_bad_filter_is_shown_and_the_page_still_renders(auditor_client: Client) -> None:
    response = auditor_client.get(URL, {"action": "nonsense", "date_from": "yesterday"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"action", "date_from"}


def test_keyset_pages_have_no_gaps_or_duplicates_even_with_equal_timestamps() -> None:
    with mock.patch("django.utils.timezone.now", return_value=timezone.now()):  # one instant: the id breaks ties
        for i in range(7):
            audit_record(action="agent.create", actor_label="x", object_id=f"o{i}")
    seen: list[str] = []
    cursor = ""
    while True:
        page = audit_page(cursor=cursor, per_page=3)
        seen += [e.object_id for e in page.events]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == [f"o{i}" for i in range(7)] and len(seen) == 7


def test_a_mangled_cursor_means_the_first_page() -> None:
    audit_record(action="agent.create", actor_label="x", object_id="o1")
    assert [e.object_id for e in audit_page(cursor="!!not-base64!!").events] == ["o1"]


def test_the_page_never_counts_and_costs_a_fixed_number_of_queries(
    auditor_client: Client, django_assert_max_num_queries, django_assert_num_queries
) -> None:
    for i in range(120):
        audit_record(action="thread.view", actor_label="x", object_id=f"t{i}")
    with django_assert_max_num_queries(6) as captured:
        response = auditor_client.get(URL, {"actor": "nobody-here"})
    assert response.status_code == 200
    assert not any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)
    page = auditor_client.get(URL).context["page"]
    assert len(page.events) == 50 and page.next_cursor
    following = auditor_client.get(URL, {"cursor": page.next_cursor}, **HX)
    assert following.status_code == 200 and "<html" not in following.content.decode()


def test_the_django_admin_shows_audit_events_read_only(admin_client: Client, settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.urls_with_admin"  # DJANGO_ADMIN_ENABLED
    event = audit_record(action="agent.create", actor_label="x", object_id="o1")
    assert admin_client.get("/django-admin/agents_admin/auditevent/").status_code == 200
    assert admin_client.get("/django-admin/agents_admin/auditevent/add/").status_code == 403
    admin_client.post(f"/django-admin/agents_admin/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    admin_client.post(f"/django-admin/agents_admin/auditevent/{event.pk}/change/", {"action": "changed"})
    assert AuditEvent.objects.get(pk=event.pk).action == "agent.create"


def test_before_and_after_read_as_a_diff_with_linked_ids(auditor_client: Client) -> None:
    audit_record(
        action="retention_policy.update", actor_label="alice", object_type="retention_policy", object_id="7",
        before={"days": 90, "enabled": False}, after={"days": 30, "enabled": True},
    )  # fmt: skip
    audit_record(
        action="hold.place", actor_label="alice", object_type="thread", object_id="thread_abc",
        after={"hold": 3, "reason": "<b>legal</b>", "policy": 7},
    )  # fmt: skip
    body = auditor_client.get(URL).content.decode()
    assert "<del>90</del>" in body and "<ins>30</ins>" in body
    assert "<del>no</del>" in body and "<ins>yes</ins>" in body
    assert f'href="{reverse("agents_admin:retention_policy_detail", args=[7])}"' in body  # the object, and "policy"
    assert f'href="{reverse("agents_admin:jump")}?id=thread_abc"' in body
    assert "&lt;b&gt;legal&lt;/b&gt;" in body and "<b>legal" not in body


def test_the_csv_export_holds_every_matching_record_and_is_itself_recorded(auditor_client: Client) -> None:
    for i in range(1205):  # more than one keyset batch
        audit_record(action="thread.view", actor_label="x", object_id=f"thread_{i}", after={"part": "page"})
    audit_record(action="agent.create", actor_label="=cmd|' /C calc'!A0", object_id="asst_1", after={"name": "=1+1"})
    response = auditor_client.get(reverse("agents_admin:audit_export"), {"action": "thread.view"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1205 and {r["action"] for r in rows} == {"thread.view"}
    assert rows[0]["object_id"] == "thread_1204" and json.loads(rows[0]["after"]) == {"part": "page"}
    [export] = AuditEvent.objects.filter(action="audit.export")
    assert export.actor_label == "audrey" and export.after == {"filters": {"action": "thread.view"}}

    everything = auditor_client.get(reverse("agents_admin:audit_export"))
    text = b"".join(everything.streaming_content).decode()
    assert "'=cmd|" in text and "=cmd|" not in text.replace("'=cmd|", "")  # no formula for a spreadsheet to run


def test_people_without_the_audit_capability_cannot_export_it(client: Client) -> None:
    user = User.objects.create_user("nosy", password="pw-1234567890")
    client.force_login(user)
    assert client.get(reverse("agents_admin:audit_export")).status_code == 403
    assert not AuditEvent.objects.filter(action="audit.export").exists()
