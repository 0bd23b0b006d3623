"""Review: internal notes and flags on a thread."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ThreadNote(models.Model):
    """An internal note a reviewer leaves on a thread; never shown to the agent or over the API."""

    thread = models.ForeignKey("Thread", on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["thread", "-created_at"], name="threadnote_thread_created")]

    def __str__(self) -> str:
        return f"note on {self.thread_id}"


class ThreadFlag(models.Model):
    """A flag or free tag on a thread ("needs-follow-up", "escalated", "reviewed", …); one row per (thread, name)."""

    NEEDS_FOLLOW_UP = "needs-follow-up"
    ESCALATED = "escalated"
    REVIEWED = "reviewed"
    STANDARD = (NEEDS_FOLLOW_UP, ESCALATED, REVIEWED)
    # The Thread column that mirrors each standard flag.
    THREAD_FIELDS = {
        NEEDS_FOLLOW_UP: "flag_needs_follow_up",
        ESCALATED: "flag_escalated",
        REVIEWED: "flag_reviewed",
    }

    thread = models.ForeignKey("Thread", on_delete=models.CASCADE, related_name="flags")
    name = models.SlugField(max_length=40)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["thread", "name"], name="threadflag_unique")]
        # A free tag's threads (the filter reads their ids, or probes per row for a common tag); the standard
        # flags are Thread columns with partial indexes of their own.
        indexes = [models.Index(fields=["name", "thread"], name="threadflag_name_thread")]

    def __str__(self) -> str:
        return f"{self.name} on {self.thread_id}"


class MessageComment(models.Model):
    """A reviewer's comment on one message, shown beside it in the transcript; conversation data, so it goes with
    its message and thread.

    The message key does nothing on delete at the ORM level: a message's delete stays one statement (a cascading
    key would make Django read every message first), so each path that deletes messages deletes their comments
    first (retention's delete and trim, deleting a message); the database's key refuses a path that forgets.
    """

    thread = models.ForeignKey("Thread", on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("Message", on_delete=models.DO_NOTHING, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(null=True, blank=True)  # set when edited

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["message", "created_at"], name="msgcomment_message_created"),
            models.Index(fields=["thread", "created_at"], name="msgcomment_thread_created"),
        ]

    def __str__(self) -> str:
        return f"comment on {self.message_id}"
