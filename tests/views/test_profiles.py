"""The signed-in person's own time zone: saved on their profile, carried in the session, given to every page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.models import UserProfile

pytestmark = pytest.mark.django_db

URL = "/account/time-zone/"


def test_a_chosen_zone_is_saved_and_every_page_shows_times_in_it(admin_client: Client, admin_user: User) -> None:
    assert 'data-time-zone="' not in admin_client.get(reverse("agents_admin:home")).content.decode()  # the browser's
    response = admin_client.post(URL, {"time_zone": "Europe/Paris"}, follow=True)
    assert "Times now show in Europe/Paris." in response.content.decode()
    assert UserProfile.objects.get(user=admin_user).time_zone == "Europe/Paris"
    home = admin_client.get(reverse("agents_admin:home")).content.decode()
    assert 'data-time-zone="Europe/Paris"' in home and "Time zone: Europe/Paris" in home
    admin_client.post(URL, {"time_zone": ""})
    assert UserProfile.objects.get(user=admin_user).time_zone == ""
    assert 'data-time-zone="' not in admin_client.get(reverse("agents_admin:home")).content.decode()


def test_an_unknown_zone_is_refused_beside_the_field(admin_client: Client, admin_user: User) -> None:
    body = admin_client.post(URL, {"time_zone": "Mars/Olympus"}).content.decode()
    assert "Select a valid choice" in body and 'aria-invalid="true"' in body or "field-error" in body
    assert not UserProfile.objects.filter(user=admin_user, time_zone="Mars/Olympus").exists()


def test_the_zone_is_read_at_sign_in(admin_user: User) -> None:
    UserProfile.objects.create(user=admin_user, time_zone="Asia/Tokyo")
    client = Client()
    client.post(reverse("login"), {"username": "admin", "password": "admin-pass-123"})
    assert 'data-time-zone="Asia/Tokyo"' in client.get(reverse("agents_admin:home")).content.decode()


def test_every_role_may_set_their_own_zone(client: Client) -> None:
    user = User.objects.create_user("auditor-amy", password="x-pass-12345")
    client.force_login(user)
    assert client.get(URL).status_code == 200
    assert client.post(URL, {"time_zone": "UTC"}).status_code == 302
    assert UserProfile.objects.get(user=user).time_zone == "UTC"
