"""Writes on the signed-in person's own account: their profile row."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from agents_admin.models import UserProfile


def user_profile_get(user: AbstractBaseUser) -> UserProfile:
    """The user's profile, created with the defaults on first need (no backfill for users made before it)."""
    profile, _ = UserProfile.objects.get_or_create(user_id=user.pk)
    return profile
