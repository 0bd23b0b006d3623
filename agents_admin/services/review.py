"""Writes for support review: internal notes and flags (tags) on threads."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from agents_admin.errors import InvalidInput, LimitExceeded
from agents_admin.models import Thread, ThreadFlag, ThreadNote
from agents_admin.services.audit import audit_record
from agents_admin.validation import FLAG_NAME

MAX_NOTE_LENGTH = 10_000
MAX_FLAGS_PER_THREAD = 20


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
