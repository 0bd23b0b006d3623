"""Saved views: a named set of Threads or Search filters, personal or shared, one click away."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.db import models


class SavedView(models.Model):
    """The query string of the Threads or Search page under a name. ``params`` are the parameters those pages read
    (``ThreadFilters.to_params()`` plus ``sort`` or ``q``), so a saved view is a URL."""

    class Page(models.TextChoices):
        THREADS = "threads", "Threads"
        SEARCH = "search", "Search"

    name = models.CharField(max_length=80)
    page = models.CharField(max_length=16, choices=Page.choices)
    params = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    shared = models.BooleanField(default=False)  # listed for everyone who reads conversations
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "page", "name"], name="savedview_owner_page_name")]
        indexes = [
            models.Index(fields=["shared", "page"], name="savedview_shared_page", condition=models.Q(shared=True))
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def query_string(self) -> str:
        return urlencode(sorted((k, str(v)) for k, v in self.params.items()))
