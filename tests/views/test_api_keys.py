"""Settings > API keys: list, create (secret shown once, stored hashed), revoke."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from agents_admin.models import ApiKey, AuditEvent
from agents_admin.services.api_keys import api_key_authenticate, api_key_create, hash_key
from tests.confirm_helpers import confirm_post
from tests.factories import make_project

URL = "/settings/api-keys/"


def test_the_page_lists_keys_without_their_secrets(admin_client: Client) -> None:
    new = api_key_create(project=make_project(), label="ci pipeline")
    response = admin_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "ci pipeline" in body and new.api_key.prefix in body
    assert new.secret not in body
    assert 'href="/settings/api-keys/"' in body  # the nav line


def test_creating_a_key_shows_it_once_and_stores_only_its_hash(admin_client: Client, admin_user: User) -> None:
    make_project("other")
    response = admin_client.post(URL + "new/", {"project": "other", "label": "provisioning"})
    assert response.status_code == 200
    key = ApiKey.objects.get()
    secret = response.context["new_secret"]
    assert secret in response.content.decode()
    assert key.hashed_key == hash_key(secret) and secret not in (key.prefix + key.hashed_key + key.label)
    assert key.project.name == "other" and key.created_by == admin_user and key.label == "provisioning"
    assert secret not in admin_client.get(URL).content.decode()
    assert AuditEvent.objects.get(action="api_key.create").actor == admin_user
    authenticated = api_key_authenticate(secret=secret)
    assert authenticated is not None and authenticated.pk == key.pk


def test_a_bad_form_shows_the_error_beside_the_field_and_makes_nothing(admin_client: Client) -> None:
    response = admin_client.post(URL + "new/", {"project": "nope", "label": "x" * 101})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"project", "label"}
    assert not ApiKey.objects.exists()


def test_revoking_a_key_stops_it_working(admin_client: Client) -> None:
    new = api_key_create(project=make_project(), label="old")
    response = confirm_post(admin_client, URL + "revoke/", {"key": new.api_key.pk})
    assert response.status_code == 302 and response.url == URL
    new.api_key.refresh_from_db()
    assert new.api_key.revoked_at is not None
    assert api_key_authenticate(secret=new.secret) is None
    event = AuditEvent.objects.get(action="api_key.revoke")
    assert event.actor is not None and event.object_id == new.api_key.prefix
    assert "revoked" in admin_client.get(URL).content.decode()
    again = admin_client.post(URL + "revoke/", {"key": new.api_key.pk})
    assert again.status_code == 302


def test_only_signed_in_people_with_permission_see_keys(anon_client: Client, db: None) -> None:
    assert anon_client.get(URL).status_code == 302
    User.objects.create_user("viewer", password="pw-123-long-enough")
    client = Client()
    client.login(username="viewer", password="pw-123-long-enough")
    assert client.get(URL).status_code == 403
    assert client.post(URL + "new/", {"project": "default"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_the_pages_refuse_the_wrong_method(admin_client: Client) -> None:
    assert admin_client.post(URL).status_code == 405
    assert admin_client.get(URL + "new/").status_code == 405
