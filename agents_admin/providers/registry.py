"""Which provider serves a model name. The offline model serves every name until connections exist."""

from __future__ import annotations

from django.conf import settings

from agents_admin.providers.base import Provider
from agents_admin.providers.offline import OfflineProvider


def provider_for(*, project_id: int, model: str) -> Provider:
    """The provider that answers ``model`` in the project."""
    return OfflineProvider(slow_seconds=settings.OFFLINE_SLOW_SECONDS)
