"""Per-person settings of a console user that Django's User does not hold."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserProfile(models.Model):
    """One per user, created on first need (services/accounts.py ``user_profile_get``), so users that existed
    before this table, or that a command created, need no backfill: a missing row reads as the defaults."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    # Set on a password handed over by someone else (an admin's one-time password): every console page leads to
    # the change-password page until the person chooses their own.
    must_change_password = models.BooleanField(default=False)
    # An IANA zone name ("Europe/Paris") for the times the console shows; blank: the browser's own zone.
    time_zone = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"profile of user {self.user_id}"
