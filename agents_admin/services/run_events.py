"""Tell open streams that a run changed (``lib/run_events.py``), once the change is committed."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from agents_admin.lib import run_events


def run_changed(run_id: str) -> None:
    """After the surrounding transaction commits (at once outside one), wake the streams of ``run_id``."""
    url = settings.RUN_EVENTS_URL
    if url:
        transaction.on_commit(lambda: run_events.publish(url, run_id))
