"""agents_admin/sessions.py: the embedded default's session store reads its row in SQL, with Django's semantics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents_admin.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_a_saved_session_loads_its_data_and_an_unknown_key_loads_nothing() -> None:
    store = SessionStore()
    store["answer"] = 42
    store.create()
    assert SessionStore(store.session_key).load() == {"answer": 42}
    unknown = SessionStore("x" * 32)
    assert unknown.load() == {} and unknown.session_key is None


def test_an_expired_session_is_not_loaded_and_its_key_is_dropped() -> None:
    store = SessionStore()
    store["answer"] = 42
    store.create()
    Session.objects.filter(session_key=store.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = SessionStore(store.session_key)
    assert expired.load() == {} and expired.session_key is None


def test_signing_in_and_out_through_the_console_with_this_store(settings, admin_user: User) -> None:
    settings.SESSION_ENGINE = "agents_admin.sessions"
    client = Client()
    response = client.post(reverse("login"), {"username": "admin", "password": "admin-pass-123"})
    assert response.status_code == 302
    assert client.get(reverse("agents_admin:thread_list")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("agents_admin:thread_list")).status_code == 302  # back to sign-in
