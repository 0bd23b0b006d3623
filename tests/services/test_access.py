"""Roles as groups, the append-only audit trail, sign-in auditing and throttling."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from agents_admin.models import AuditEvent
from agents_admin.roles import ROLE_PERMISSIONS, perm, roles_sync

pytestmark = pytest.mark.django_db


def test_role_groups_hold_exactly_their_permissions() -> None:
    roles_sync()
    roles_sync()  # idempotent
    for role, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        assert set(group.permissions.values_list("codename", flat=True)) == set(codenames)


def test_a_reviewer_reads_conversations_but_cannot_edit_agents_or_run() -> None:
    roles_sync()
    user = User.objects.create_user("rita", password="pw-123456789")
    user.groups.add(Group.objects.get(name="Reviewer"))
    user = User.objects.get(pk=user.pk)
    assert user.has_perm(perm("view_conversations")) and user.has_perm(perm("review_conversations"))
    assert not user.has_perm(perm("edit_agents")) and not user.has_perm(perm("operate_runs"))
    assert not user.has_perm(perm("delete_threads")) and not user.has_perm(perm("manage_retention"))


def test_audit_events_are_append_only() -> None:
    event = AuditEvent.objects.create(actor_label="x", action="test")
    event.action = "changed"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test"


def test_sign_in_sign_out_and_failures_are_audited_once_each(settings) -> None:
    settings.LOGIN_REDIRECT_URL = "/"
    User.objects.create_user("sam", password="right-password-1")
    client = Client()
    client.post("/login/", {"username": "sam", "password": "wrong"})
    client.post("/login/", {"username": "sam", "password": "right-password-1"})
    client.post("/logout/")
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "object_id"))
    sam = str(User.objects.get(username="sam").pk)
    assert actions == [("auth.sign_in_failed", "sam"), ("auth.sign_in", sam), ("auth.sign_out", sam)]
    assert "right-password-1" not in str(list(AuditEvent.objects.values()))


def test_repeated_failed_sign_ins_are_throttled(settings) -> None:
    settings.SIGNIN_MAX_FAILURES_PER_USER = 3
    User.objects.create_user("sam", password="right-password-1")
    client = Client()
    for _ in range(3):
        assert client.post("/login/", {"username": "sam", "password": "wrong"}).status_code == 200
    blocked = client.post("/login/", {"username": "sam", "password": "right-password-1"})
    assert blocked.status_code == 429
    assert b"Too many failed sign-ins" in blocked.content
    assert "_auth_user_id" not in client.session
