"""The Django admin (M3): not mounted unless DJANGO_ADMIN_ENABLED, read-only for the app's data, users and
groups when it is; a thread with an active hold cannot be deleted below the services either."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import ProtectedError
from django.test import Client

from agents_admin.models import Message, PurgeReport, Thread, ThreadHold
from agents_admin.services.retention import hold_place, hold_release, threads_delete
from tests.factories import make_thread

pytestmark = pytest.mark.django_db


@pytest.fixture
def root() -> Client:
    user = User.objects.create_superuser("root", password="right-password-1")
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_is_not_mounted_by_default(root: Client) -> None:
    assert root.get("/django-admin/").status_code == 404
    assert root.get("/django-admin/login/").status_code == 404


def test_when_enabled_it_changes_nothing(root: Client, settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.urls_with_admin"
    thread = make_thread(messages=["original text"])
    hold_place(thread=thread, reason="legal", actor=None)
    message = Message.objects.get(thread=thread)
    # The admin quotes ids in its links: a raw "msg_3Fab" is read back as "msg?ab" (about 1 id in 190).
    assert root.get("/django-admin/agents_admin/thread/").status_code == 200
    assert root.get(f"/django-admin/agents_admin/thread/{quote(thread.pk)}/change/").status_code == 200  # a view
    assert (
        root.post(f"/django-admin/agents_admin/thread/{quote(thread.pk)}/delete/", {"post": "yes"}).status_code == 403
    )
    changed = root.post(f"/django-admin/agents_admin/message/{quote(message.pk)}/change/", {"text": "forged"})
    assert changed.status_code == 403
    victim = User.objects.create_user("victim", password="pw-1234567890")
    assert root.post(f"/django-admin/auth/user/{victim.pk}/change/", {"is_superuser": "on"}).status_code == 403
    assert root.post(f"/django-admin/auth/user/{victim.pk}/delete/", {"post": "yes"}).status_code == 403
    assert root.get("/django-admin/auth/group/add/").status_code == 403
    assert Thread.objects.filter(pk=thread.pk).exists() and ThreadHold.objects.filter(thread=thread).exists()
    assert Message.objects.get(pk=message.pk).text == "original text"
    assert not User.objects.get(pk=victim.pk).is_superuser and not Group.objects.filter(name="x").exists()


def test_an_active_hold_protects_its_thread_below_the_services() -> None:
    thread = make_thread(messages=["keep me"])
    hold = hold_place(thread=thread, reason="legal", actor=None)
    report = PurgeReport.objects.create(trigger=PurgeReport.Trigger.COMMAND)
    with pytest.raises(ProtectedError), transaction.atomic():
        Thread.objects.filter(pk=thread.pk).delete()
    with pytest.raises(ProtectedError), transaction.atomic():
        threads_delete([thread.pk], report=report)  # the purge's batch delete, called without the hold check
    assert Thread.objects.filter(pk=thread.pk).exists() and Message.objects.filter(thread=thread).exists()

    hold_release(hold=hold, actor=None)  # a released hold no longer holds: the purge removes it with the thread
    assert threads_delete([thread.pk], report=report)["threads"] == 1
    assert not ThreadHold.objects.exists()
