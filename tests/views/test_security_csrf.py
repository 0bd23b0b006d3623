"""Every mutating console request needs the CSRF token, plain and htmx alike; htmx sends it from the page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.models import Thread
from tests.architecture.test_permissions import console_patterns, sample_objects, url_for
from tests.factories import make_thread
from tests.personas import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def url_objects(db: None) -> dict[str, str]:
    return sample_objects()


HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def strict_admin(admin_user: User) -> Client:
    return client_for(admin_user, enforce_csrf_checks=True)


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_every_console_post_without_a_token_is_refused(
    strict_admin: Client, url_objects: dict[str, str], headers: dict[str, str]
) -> None:
    accepted = []
    threads_before = Thread.objects.count()
    for route, entry in console_patterns():
        url = url_for(route, entry, url_objects)
        response = strict_admin.post(url, {"name": "x", "content": "hi", "role": "Reviewer"}, **headers)
        if response.status_code != 403:
            accepted.append(f"{url}: {response.status_code}")
    assert accepted == []
    assert Thread.objects.count() == threads_before  # nothing was created or deleted


def test_sign_in_and_sign_out_without_a_token_are_refused(admin_user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post(reverse("login"), {"username": "admin", "password": "admin-pass-123"}).status_code == 403
    signed_in = client_for(admin_user, enforce_csrf_checks=True)
    assert signed_in.post(reverse("logout")).status_code == 403


def test_an_htmx_post_with_the_token_from_the_page_header_is_accepted(strict_admin: Client) -> None:
    thread = make_thread(messages=["hi"])
    page = strict_admin.get(reverse("agents_admin:thread_detail", args=[thread.id])).content.decode()
    match = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", page)
    assert match is not None
    url = reverse("agents_admin:message_add", args=[thread.id])
    response = strict_admin.post(url, {"content": "second"}, HTTP_X_CSRFTOKEN=match.group(1), **HX)
    assert response.status_code == 302
    assert Thread.objects.get(pk=thread.pk).message_count == 2
