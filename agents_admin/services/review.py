"""Writes for support review: internal notes and flags (tags) on threads, and comments on messages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents_admin.errors import InvalidInput, LimitExceeded
from agents_admin.models import Message, MessageComment, Thread, ThreadFlag, ThreadNote
from agents_admin.services.audit import audit_record
from agents_admin.validation import FLAG_NAME

MAX_NOTE_LENGTH = 10_000
MAX_FLAGS_PER_THREAD = 20
MAX_COMMENT_LENGTH = 5_000
MAX_COMMENTS_PER_MESSAGE = 100


def user_or_none(user: Any) -> User | None:
    """The signed-in user to record as author, or None (anonymous, or a system action)."""
    return user if user is not None and user.is_authenticated else None


def thread_note_add(*, thread: Thread, author: Any, body: str) -> ThreadNote:
    body = body.strip()
    if not body:
        raise InvalidInput("A note must not be empty.", param="body")
    if len(body) > MAX_NOTE_LENGTH:
        raise InvalidInput(f"A note is at most {MAX_NOTE_LENGTH} characters.", param="body")
    with transaction.atomic():
        note = ThreadNote.objects.create(thread=thread, author=user_or_none(author), body=body)
        audit_record(
            action="note.create", actor=author, object_type="thread", object_id=thread.pk,
            project_id=thread.project_id, after={"note": note.pk, "body": body},
        )  # fmt: skip
    return note


def thread_flag_set(*, thread: Thread, name: str, on: bool, actor: Any) -> bool:
    """Set or clear one flag; returns whether the thread now has it.

    Idempotent (setting a set flag or clearing a clear one changes nothing), so a double click or a retried
    request cannot flip it back.
    """
    name = name.strip().lower()
    if not FLAG_NAME.match(name):
        raise InvalidInput("A flag is 1-40 lower-case letters, digits and '-'.", param="name")
    if not on:
        with transaction.atomic():
            deleted, _ = ThreadFlag.objects.filter(thread=thread, name=name).delete()
            _thread_column_set(thread, name, on=False)
            if deleted:
                _flag_audit(thread, name, on=False, actor=actor)
        return False
    with transaction.atomic():
        if ThreadFlag.objects.filter(thread=thread, name=name).exists():
            return True
        if ThreadFlag.objects.filter(thread=thread).count() >= MAX_FLAGS_PER_THREAD:
            raise LimitExceeded(f"A thread has at most {MAX_FLAGS_PER_THREAD} flags.", param="name")
        try:
            with transaction.atomic():
                ThreadFlag.objects.create(thread=thread, name=name, created_by=user_or_none(actor))
        except IntegrityError:  # set concurrently by someone else: the outcome is the same, theirs is recorded
            pass
        else:
            _flag_audit(thread, name, on=True, actor=actor)
        _thread_column_set(thread, name, on=True)
    return True


def _flag_audit(thread: Thread, name: str, *, on: bool, actor: Any) -> None:
    """One record per real change: setting a set flag or clearing a clear one records nothing."""
    audit_record(
        action="flag.set" if on else "flag.clear", actor=actor, object_type="thread", object_id=thread.pk,
        project_id=thread.project_id, before={"flag": name, "on": not on}, after={"flag": name, "on": on},
    )  # fmt: skip


def _thread_column_set(thread: Thread, name: str, *, on: bool) -> None:
    """Mirror a standard flag on its Thread column (what the flag filter reads), in the flag's transaction."""
    column = ThreadFlag.THREAD_FIELDS.get(name)
    if column is not None:
        Thread.objects.filter(pk=thread.pk).update(**{column: on})
        setattr(thread, column, on)


def _comment_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise InvalidInput("A comment must not be empty.", param="body")
    if len(body) > MAX_COMMENT_LENGTH:
        raise InvalidInput(f"A comment is at most {MAX_COMMENT_LENGTH} characters.", param="body")
    return body


def message_comment_add(*, message: Message, author: Any, body: str) -> MessageComment:
    """Comment on one message of a thread; audited as ``comment.create``."""
    body = _comment_body(body)
    with transaction.atomic():
        if MessageComment.objects.filter(message=message).count() >= MAX_COMMENTS_PER_MESSAGE:
            raise LimitExceeded(f"A message has at most {MAX_COMMENTS_PER_MESSAGE} comments.", param="body")
        comment = MessageComment.objects.create(
            thread_id=message.thread_id, message=message, author=user_or_none(author), body=body
        )
        _comment_audit("comment.create", comment, actor=author, after={"body": body})
    return comment


def message_comment_update(*, comment: MessageComment, actor: Any, body: str) -> MessageComment:
    """Change the text of a comment (the caller checked it is the actor's own); audited with before and after."""
    body = _comment_body(body)
    if body == comment.body:
        return comment
    before = comment.body
    with transaction.atomic():
        comment.body, comment.updated_at = body, timezone.now()
        comment.save(update_fields=["body", "updated_at"])
        _comment_audit("comment.update", comment, actor=actor, before={"body": before}, after={"body": body})
    return comment


def message_comment_delete(*, comment: MessageComment, actor: Any) -> None:
    """Delete a comment (the caller checked it is the actor's own and the person confirmed); audited."""
    with transaction.atomic():
        MessageComment.objects.filter(pk=comment.pk).delete()
        _comment_audit("comment.delete", comment, actor=actor, before={"body": comment.body})


def _comment_audit(action: str, comment: MessageComment, *, actor: Any, **change: dict[str, Any]) -> None:
    project_id = Thread.objects.filter(pk=comment.thread_id).values_list("project_id", flat=True).first()
    audit_record(
        action=action, actor=actor, object_type="comment", object_id=str(comment.pk), project_id=project_id,
        before={"thread_id": comment.thread_id, "message_id": comment.message_id, **change.get("before", {})},
        after={"thread_id": comment.thread_id, "message_id": comment.message_id, **change.get("after", {})},
    )  # fmt: skip
