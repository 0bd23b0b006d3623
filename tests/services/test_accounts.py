"""A user's own account: the profile row, created on first need."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from agents_admin.models import UserProfile
from agents_admin.services.accounts import user_profile_get
from agents_admin.services.users import user_create
from tests.personas import user_with_role

pytestmark = pytest.mark.django_db


def test_a_user_made_before_profiles_gets_one_with_the_defaults_on_first_need() -> None:
    user = User.objects.create_user("old-timer", password="pw-1234567890")
    assert not UserProfile.objects.filter(user=user).exists()
    profile = user_profile_get(user)
    assert profile.must_change_password is False and profile.time_zone == ""
    assert user_profile_get(user).pk == profile.pk and UserProfile.objects.filter(user=user).count() == 1


def test_a_user_an_admin_creates_with_a_one_time_password_must_change_it() -> None:
    admin = user_with_role("Admin", "ada")
    user, password = user_create(username="newbie", role="Operator", actor=admin)
    assert password and user_profile_get(user).must_change_password is True
    sso, none = user_create(username="sso-only", role="Operator", sso_only=True, actor=admin)
    assert none == "" and user_profile_get(sso).must_change_password is False
