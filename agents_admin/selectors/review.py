"""Reads for support review: a thread's flags and latest internal notes (the thread page's review panel), and the
comments on messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F, Prefetch, prefetch_related_objects
from django.http import Http404

from agents_admin.models import Message, MessageComment, Thread, ThreadFlag, ThreadNote

NOTES_SHOWN = 50


def thread_flag_names(thread_id: str) -> list[str]:
    """The thread's flags and tags, by name."""
    return list(ThreadFlag.objects.filter(thread_id=thread_id).order_by("name").values_list("name", flat=True))


def thread_notes(thread_id: str, *, limit: int) -> list[Mapping[str, Any]]:
    """The thread's latest notes, newest first: body, created_at and author_name (None once the author is
    deleted). Served by the (thread, created_at) index."""
    author_name = F(f"author__{get_user_model().USERNAME_FIELD}")
    notes = ThreadNote.objects.filter(thread_id=thread_id).order_by("-created_at", "-id")
    return list(notes.values("body", "created_at", author_name=author_name)[:limit])


def thread_review(thread: Thread, **extra: Any) -> dict[str, Any]:
    """The thread's flags and its latest notes, for _thread_review.html (see views.review.review_context)."""
    flags = thread_flag_names(thread.id)
    notes = thread_notes(thread.id, limit=NOTES_SHOWN + 1)
    context: dict[str, Any] = {
        "thread": thread,
        "flags": flags,
        "standard_flags": [(name, name in flags) for name in ThreadFlag.STANDARD],
        "free_flags": [name for name in flags if name not in ThreadFlag.STANDARD],
        "notes": notes[:NOTES_SHOWN],
        "more_notes": len(notes) > NOTES_SHOWN,
    }
    context.update(extra)
    return context


def message_comments_attach(messages: list[Message]) -> None:
    """Read the comments of these messages (with their authors' names) in one query, so the transcript's
    ``message.comments.all`` costs nothing more; no query when there are no messages."""
    comments = MessageComment.objects.select_related("author").order_by("created_at", "id")
    prefetch_related_objects(messages, Prefetch("comments", queryset=comments))


def message_comments(message: Message) -> Message:
    """The message with its comments read (for the comments region alone)."""
    message_comments_attach([message])
    return message


def message_get(thread_id: str, message_id: str) -> Message:
    """A message of this thread, or 404."""
    message = Message.objects.filter(pk=message_id, thread_id=thread_id).only("id", "thread_id", "seq").first()
    if message is None:
        raise Http404("No such message in this thread.")
    return message


def comment_own(thread_id: str, comment_id: int, user: Any) -> MessageComment:
    """A comment of this thread written by ``user``; 404 for anyone else's (one edits and deletes only one's own)."""
    comment = MessageComment.objects.filter(pk=comment_id, thread_id=thread_id, author_id=user.pk).first()
    if comment is None:
        raise Http404("No such comment of yours.")
    return comment
