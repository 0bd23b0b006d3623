"""Tell open streams that a run changed, or what text it produced (``lib/run_events.py``), once committed."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from agents_admin.lib import run_events


def text_produced(run_id: str, *, message_id: str, offset: int, text: str) -> None:
    """Hand the streams of ``run_id`` the text the model just produced for ``message_id`` (at ``offset`` in its
    text), before a checkpoint writes it; the message itself must be committed (after the surrounding transaction
    commits, at once outside one)."""
    url = settings.RUN_EVENTS_URL
    if url:
        notice = run_events.TextNotice(message_id, offset, text)
        transaction.on_commit(lambda: run_events.publish_text(url, run_id, notice))


def run_changed(run_id: str) -> None:
    """After the surrounding transaction commits (at once outside one), wake the streams of ``run_id``."""
    url = settings.RUN_EVENTS_URL
    if url:
        transaction.on_commit(lambda: run_events.publish(url, run_id))
