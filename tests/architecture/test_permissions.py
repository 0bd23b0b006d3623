"""The permission matrix: every console URL x every role (and anonymous) -> the expected status.

The expectation comes from each view's declared capabilities (``capability_required``); the guard test fails any
console view that declares none, so a new page cannot ship without a permission check.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from agents_admin.models import ExportJob, Message, ModelPrice, ReviewItem, Run, SavedView, SyncRecord
from agents_admin.roles import ROLES, perm, roles_sync
from agents_admin.services import retention, review_queues
from agents_admin.services.connections import connection_create
from agents_admin.services.remote import remote_project_create
from agents_admin.services.review import message_comment_add
from agents_admin.services.vector_stores import vector_store_create
from tests.factories import make_agent, make_run, make_thread

# Views reachable without a role on purpose.
PUBLIC = {"login", "login_code", "logout", "healthz", "entra_login", "entra_callback"}
# Prefixes served by other doors with their own auth (the REST API uses project keys), or Django's own admin.
OTHER_DOORS = ("api/", "django-admin/")


def console_patterns() -> Iterator[tuple[str, URLPattern]]:
    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                if not route.startswith(OTHER_DOORS):
                    yield from walk(entry.url_patterns, route)
            elif entry.name not in PUBLIC and not route.startswith(OTHER_DOORS):
                yield route, entry

    yield from walk(get_resolver().url_patterns, "")


def test_every_console_view_declares_its_capabilities() -> None:
    missing = [route for route, entry in console_patterns() if not hasattr(entry.callback, "required_capabilities")]
    assert missing == [], f"console views without capability_required/signed_in: {missing}"


@pytest.fixture
def objects(db: None) -> dict[str, str]:
    return sample_objects()


def sample_objects() -> dict[str, str]:
    """One object per URL parameter, for walking every console URL (used by the security tests too)."""
    run = make_run(agent=make_agent())
    Run.objects.filter(pk=run.pk).update(status="completed")
    connection = connection_create(fields={"name": "perm", "kind": "offline", "auth": "none"})
    someone = User.objects.create_user("someone-else", password="pw-1234567890")
    policy = retention.policy_save(
        policy=None, actor=None, name="perm", project=None, days=3650, daily_at=datetime.time(3, 0)
    )
    report = retention.purge_start(policy=policy, trigger="manual", dry_run=True, enqueue=False)
    other = make_thread()
    hold = retention.hold_place(thread=other, reason="legal", actor=None)
    job = ExportJob.objects.create(format="jsonl", params={})
    remote_project = remote_project_create(
        name="perm", endpoint="http://127.0.0.1:9/api/projects/p", auth_kind="api_key", secret="k"
    )
    sync = SyncRecord.objects.create(remote_project=remote_project)
    queue = review_queues.queue_create(
        data={
            "name": "perm",
            "scope": "backfill",
            "reviewers": [someone],
            "rubric": [{"label": "Ok", "kind": "yes_no"}],
        }
    )
    item = ReviewItem.objects.create(queue=queue, thread=other)
    price = ModelPrice.objects.create(
        model="gpt-4o", effective_from=datetime.date(2026, 1, 1), input_per_million=2, output_per_million=8
    )
    store = vector_store_create(project=run.thread.project, name="perm")
    message = Message.objects.filter(thread_id=run.thread_id).first()
    comment = message_comment_add(message=message, author=someone, body="perm")  # someone else's: 404 to others
    view = SavedView.objects.create(owner=someone, page="threads", name="perm", params={"flag": "vip"}, shared=True)
    return {
        "user_id": str(someone.pk),
        "agent_id": run.agent_ref,
        "thread_id": run.thread_id,
        "run_id": run.id,
        "version": "1",
        "connection_id": str(connection.pk),
        "policy_id": str(policy.pk),
        "report_id": str(report.pk),
        "hold_id": str(hold.pk),
        "job_id": str(job.pk),
        "remote_id": str(remote_project.pk),
        "sync_id": str(sync.pk),
        "queue_id": str(queue.pk),
        "item_id": str(item.pk),
        "price_id": str(price.pk),
        "chart": "runs",
        "store_id": store.id,
        "message_id": message.id,
        "comment_id": str(comment.pk),
        "view_id": str(view.pk),
    }


def client_for(role: str | None) -> Client:
    client = Client()
    if role is None:
        return client
    roles_sync()
    user = User.objects.create_user(f"user-{role.lower()}", password="pw-1234567890")
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


def url_for(route: str, entry: URLPattern, objects: dict[str, str]) -> str:
    url = "/" + route
    for name in entry.pattern.regex.groupindex:
        assert name in objects, f"add a sample value for URL parameter '{name}' to the objects fixture"
        url = url.replace(f"<{name}>", objects[name]).replace(f"<str:{name}>", objects[name])
        url = url.replace(f"<int:{name}>", objects[name])
    return url


@pytest.mark.parametrize("role", [None, *ROLES])
def test_the_permission_matrix(role: str | None, objects: dict[str, str], settings: Any) -> None:
    settings.REMOTE_MAX_ATTEMPTS = 1  # "Test connection" against a closed port fails at once
    client = client_for(role)
    user = User.objects.filter(username=f"user-{(role or '').lower()}").first()
    if user is not None:  # an export job is only visible to its creator
        objects = {**objects, "job_id": str(ExportJob.objects.create(format="jsonl", params={}, created_by=user).pk)}
    failures = []
    for route, entry in console_patterns():
        needed = getattr(entry.callback, "required_capabilities", ())
        url = url_for(route, entry, objects)
        response = client.get(url)
        if response.status_code == 405:
            response = client.post(url, {})
        allowed = user is not None and all(user.has_perm(perm(c)) for c in needed)
        status = response.status_code
        if role is None:
            ok = status == 302 and "/login/" in response["Location"]
        elif allowed:
            ok = status not in (401, 403) and status < 500
        else:
            ok = status == 403
        if not ok:
            failures.append(f"{url} as {role or 'anonymous'}: {status} (needs {needed}, allowed={allowed})")
    assert failures == []
