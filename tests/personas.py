"""Personas: a signed-in client for each role (Admin, Operator, Reviewer, Auditor)."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.test import Client

from agents_admin.roles import roles_sync


def user_with_role(role: str, username: str | None = None) -> User:
    roles_sync()
    user = User.objects.create_user(username or f"{role.lower()}-user", password="pw-1234567890")
    user.groups.add(Group.objects.get(name=role))
    return user


def client_for(user: User, *, enforce_csrf_checks: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client
