"""A thread's title, kept on the thread so lists never read messages: its metadata "title" if it has one, else its
first user message, whitespace collapsed and cut to TITLE_LENGTH characters."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf, Substr

from agents_admin.models import Message, Thread
from agents_admin.models.threads import TITLE_LENGTH


def title_from(text: Any) -> str | None:
    """What a title shows of a text: None for nothing but whitespace."""
    words = " ".join(str(text or "").split())
    if not words:
        return None
    return words if len(words) <= TITLE_LENGTH else words[: TITLE_LENGTH - 1].rstrip() + "…"


def metadata_title(metadata: Any) -> str | None:
    return title_from(metadata.get("title")) if isinstance(metadata, dict) else None


def thread_title_on_message(thread: Thread, *, role: str, text: str) -> None:
    """A message arrived: a thread without a title yet takes its first user message's (one conditional update, so
    two first messages racing cannot both win)."""
    if role != Message.Role.USER or thread.title is not None:
        return
    title = title_from(text)
    if title is not None and Thread.objects.filter(pk=thread.pk, title__isnull=True).update(title=title):
        thread.title = title


def thread_titles_refresh(threads: QuerySet[Thread]) -> int:
    """Recompute the titles of ``threads`` in one statement (metadata changed, messages mirrored or trimmed, or a
    bulk load): the metadata title, else the first user message's first TITLE_LENGTH characters."""
    first_user = Message.objects.filter(thread_id=OuterRef("pk"), role=Message.Role.USER).order_by("seq")
    from_message = Substr(Subquery(first_user.values("text")[:1]), 1, TITLE_LENGTH)
    from_metadata = Substr(NullIf(Cast(KeyTextTransform("title", "metadata"), CharField()), Value("")), 1, TITLE_LENGTH)
    return threads.update(title=NullIf(Coalesce(from_metadata, from_message), Value("")))
