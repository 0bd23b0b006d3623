"""Sign-in throttling (H1, M5): the Django admin's sign-in is the console's throttled one; failures are keyed
on the normalised username and the real client address behind a trusted proxy; delays grow progressively and
nobody can lock another person out of their account."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from agents_admin.services.audit import client_ip
from agents_admin.services.throttle import signin_failed, signin_wait

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits(settings: Any) -> None:
    settings.SIGNIN_MAX_FAILURES_PER_USER = 3
    settings.SIGNIN_MAX_FAILURES_PER_IP = 20
    settings.SIGNIN_THROTTLE_WINDOW = 900
    settings.SIGNIN_ACCOUNT_MAX_DELAY = 60


def fail(client: Client, username: str, **extra: Any) -> int:
    return client.post("/login/", {"username": username, "password": "wrong"}, **extra).status_code


def test_the_django_admin_signs_in_through_the_throttled_sign_in(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.urls_with_admin"
    User.objects.create_superuser("root", password="right-password-1")
    response = Client().get("/django-admin/login/?next=/django-admin/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=%2Fdjango-admin%2F"
    client = Client()
    for _ in range(3):
        client.post("/django-admin/login/", {"username": "root", "password": "wrong"})  # no form here any more
        fail(client, "root")
    assert fail(client, "root") == 429


def test_spaces_and_case_do_not_give_a_fresh_counter() -> None:
    User.objects.create_user("admin", password="right-password-1")
    client = Client()
    for name in ("admin", " admin", "ADMIN "):
        assert fail(client, name) == 200
    blocked = client.post("/login/", {"username": "\u00a0Admin", "password": "right-password-1"})
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) >= 1
    assert "_auth_user_id" not in client.session


def test_delays_grow_progressively_and_end() -> None:
    waits = []
    for _ in range(8):
        signin_failed(username="sam", ip="10.0.0.1", now=1000.0)
        waits.append(signin_wait(username="sam", ip="10.0.0.1", now=1000.0))
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32]
    assert signin_wait(username="sam", ip="10.0.0.1", now=1000.0 + 33) == 0


def test_nobody_can_lock_someone_else_out() -> None:
    # An attacker fails on purpose from many addresses, far past every allowance.
    for n in range(200):
        signin_failed(username="victim", ip=f"203.0.113.{n % 5}", now=1000.0)
    # The owner, from their own address: at most the account-wide cap, never the attacker's long delays.
    assert signin_wait(username="victim", ip="198.51.100.7", now=1000.0) <= 60
    assert signin_wait(username="victim", ip="198.51.100.7", now=1061.0) == 0
    assert signin_wait(username="victim", ip="203.0.113.1", now=1061.0) > 60  # the attacker's addresses wait


def test_the_client_address_comes_from_a_trusted_proxy_only(settings: Any) -> None:
    factory = RequestFactory()
    forged = factory.get("/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(forged) == "198.51.100.7"  # no trusted proxy: the header is ignored
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    behind = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7, 10.0.0.9")
    assert client_ip(behind) == "198.51.100.7"  # the rightmost address no trusted proxy added
    assert client_ip(forged) == "198.51.100.7"  # a peer that is not a proxy still cannot choose its address
    mangled = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-ip")
    assert client_ip(mangled) == "10.0.0.2"


def test_behind_a_proxy_each_client_has_its_own_counter(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.SIGNIN_MAX_FAILURES_PER_IP = 3
    client = Client()
    for n in range(3):
        fail(client, f"user{n}", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert fail(client, "someone", HTTP_X_FORWARDED_FOR="198.51.100.7") == 429
    assert fail(client, "someone", HTTP_X_FORWARDED_FOR="198.51.100.8") == 200  # another client behind it
