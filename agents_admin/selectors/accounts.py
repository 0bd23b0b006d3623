"""Reads about the signed-in person's own account."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from agents_admin.models import UserProfile


def user_time_zone(user: AbstractBaseUser) -> str:
    """The person's chosen time zone; blank (the browser's own) when they chose none or have no profile row."""
    return UserProfile.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first() or ""
