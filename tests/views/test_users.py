"""User management for admins: list with roles, create with a one-time password, change role, deactivate and
reactivate (never delete, never yourself)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.services.users import user_role
from tests.confirm_helpers import confirm_post
from tests.personas import client_for, user_with_role

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def admin() -> User:
    return user_with_role("Admin", "ada")


def test_the_list_shows_users_with_their_roles_as_page_and_partial(admin: User) -> None:
    user_with_role("Reviewer", "rita")
    client = client_for(admin)
    body = client.get(reverse("agents_admin:user_list")).content.decode()
    assert "<html" in body and "rita" in body and "Reviewer" in body and "ada" in body
    partial = client.get(reverse("agents_admin:user_list"), **HX).content.decode()
    assert "<html" not in partial and "rita" in partial


def test_the_list_costs_two_queries_whatever_the_number_of_users(admin: User, django_assert_max_num_queries) -> None:
    for i in range(30):
        user_with_role("Reviewer", f"r{i}")
    client = client_for(admin)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("agents_admin:user_list"), **HX).status_code == 200


def test_creating_a_user_shows_a_one_time_password_that_signs_in(admin: User) -> None:
    client = client_for(admin)
    response = client.post(
        reverse("agents_admin:user_create"), {"username": "newbie", "email": "n@example.com", "role": "Operator"}
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    password = response.context["password"]
    assert len(password) >= 20 and password in response.content.decode()
    newbie = User.objects.get(username="newbie")
    assert user_role(newbie) == "Operator" and newbie.check_password(password)
    # Shown once: nothing else shows it again.
    assert password not in client.get(reverse("agents_admin:user_edit", args=[newbie.pk])).content.decode()
    fresh = Client()
    assert fresh.login(username="newbie", password=password)


def test_a_taken_username_or_missing_role_is_refused_beside_the_field(admin: User) -> None:
    client = client_for(admin)
    response = client.post(reverse("agents_admin:user_create"), {"username": "ADA", "role": "Reviewer"})
    assert response.status_code == 200 and "already exists" in response.context["form"].errors["username"][0]
    response = client.post(reverse("agents_admin:user_create"), {"username": "x"})
    assert "role" in response.context["form"].errors
    response = client.post(reverse("agents_admin:user_create"), {"username": "<b>x</b>", "role": "Reviewer"})
    assert "username" in response.context["form"].errors
    assert not User.objects.filter(username="x").exists()


def test_changing_a_role(admin: User) -> None:
    rita = user_with_role("Reviewer", "rita")
    client = client_for(admin)
    response = client.post(reverse("agents_admin:user_edit", args=[rita.pk]), {"role": "Auditor"})
    assert response.status_code == 302
    assert user_role(User.objects.get(pk=rita.pk)) == "Auditor"
    assert not User.objects.get(pk=rita.pk).has_perm("agents_admin.view_conversations")


def test_an_admin_cannot_change_their_own_role(admin: User) -> None:
    client = client_for(admin)
    response = client.post(reverse("agents_admin:user_edit", args=[admin.pk]), {"role": "Reviewer"})
    assert response.status_code == 200 and "your own role" in response.content.decode()
    assert user_role(User.objects.get(pk=admin.pk)) == "Admin"


def test_deactivating_ends_access_and_reactivating_restores_it(admin: User) -> None:
    rita = user_with_role("Reviewer", "rita")
    rita_client = client_for(rita)
    assert rita_client.get(reverse("agents_admin:thread_list")).status_code == 200
    client = client_for(admin)
    confirm_post(client, reverse("agents_admin:user_active", args=[rita.pk]), {"active": "0"})
    assert not User.objects.get(pk=rita.pk).is_active
    # Her open session no longer works, and she cannot sign in again.
    assert rita_client.get(reverse("agents_admin:thread_list")).status_code == 302
    assert not Client().login(username="rita", password="pw-1234567890")
    client.post(reverse("agents_admin:user_active", args=[rita.pk]), {"active": "1"})
    assert Client().login(username="rita", password="pw-1234567890")
    assert User.objects.filter(pk=rita.pk).exists()


def test_an_admin_cannot_deactivate_themselves(admin: User) -> None:
    client = client_for(admin)
    response = client.post(reverse("agents_admin:user_active", args=[admin.pk]), {"active": "0"}, follow=True)
    assert "cannot deactivate yourself" in response.content.decode()
    assert User.objects.get(pk=admin.pk).is_active
    # and the page does not offer it
    body = client.get(reverse("agents_admin:user_edit", args=[admin.pk])).content.decode()
    assert "Deactivate" not in body


def test_only_admins_see_the_users_and_audit_links() -> None:
    admin_body = client_for(user_with_role("Admin")).get(reverse("agents_admin:home")).content.decode()
    assert reverse("agents_admin:user_list") in admin_body and reverse("agents_admin:audit_list") in admin_body
    for role in ("Operator", "Reviewer"):
        body = client_for(user_with_role(role)).get(reverse("agents_admin:home")).content.decode()
        assert reverse("agents_admin:user_list") not in body and reverse("agents_admin:audit_list") not in body
    auditor = client_for(user_with_role("Auditor")).get(reverse("agents_admin:home")).content.decode()
    assert reverse("agents_admin:audit_list") in auditor and reverse("agents_admin:user_list") not in auditor


def test_the_user_pages_render_as_page_and_partial(admin: User) -> None:
    rita = user_with_role("Reviewer", "rita")
    client = client_for(admin)
    for url in (reverse("agents_admin:user_create"), reverse("agents_admin:user_edit", args=[rita.pk])):
        assert "<html" in client.get(url).content.decode()
        partial = client.get(url, **HX).content.decode()
        assert "<html" not in partial and "<form" in partial


def test_unknown_users_are_404(admin: User) -> None:
    assert client_for(admin).get(reverse("agents_admin:user_edit", args=[999999])).status_code == 404
