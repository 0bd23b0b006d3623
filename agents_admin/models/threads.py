"""Threads and their messages."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from agents_admin import ids

TITLE_LENGTH = 120
# A thread's standing in review queues: waiting for a review, reviewed by at least one reviewer, or passed on by all.
REVIEW_QUEUED = "queued"
REVIEW_REVIEWED = "reviewed"
REVIEW_SKIPPED = "skipped"


class Thread(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=ids.new_thread_id, editable=False)
    project = models.ForeignKey("Project", on_delete=models.CASCADE, related_name="threads")
    metadata = models.JSONField(default=dict, blank=True)
    tool_resources = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Moves on every message and run; what lists sort by and retention measures inactivity from.
    last_activity_at = models.DateTimeField(auto_now_add=True)
    # Denormalised so lists never COUNT(*) messages; also the next message's sequence number.
    message_count = models.PositiveIntegerField(default=0)
    # The agent of the latest run, for lists and filters without a join over runs.
    last_agent = models.ForeignKey("Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_run_status = models.CharField(max_length=20, blank=True, default="")
    # Whether any run of the thread ever failed: support's "has a failed run" filter as an index lookup instead of
    # an EXISTS probe over runs per thread. Set where a run fails (services.runs, remote mirroring); never cleared,
    # because runs are only ever deleted with their thread.
    has_failed_run = models.BooleanField(default=False)
    # What lists call the thread: its metadata "title", else its first user message, trimmed (services.threads
    # keeps it as messages arrive and metadata changes), so a row never reads messages. NULL: nothing to show yet.
    title = models.CharField(max_length=TITLE_LENGTH, null=True, blank=True)  # noqa: DJ001 (NULL = no title yet)
    # Where the thread stands in review queues (REVIEW_STATES), kept by services.review_queues; NULL = in none.
    review_state = models.CharField(max_length=12, null=True, blank=True)  # noqa: DJ001 (NULL = not in a queue)
    # Set when retention trimmed the thread: how many earlier messages went in all, when last, and by which purge
    # report (the thread page's banner links to it). NULL: never trimmed.
    trimmed_messages = models.PositiveIntegerField(null=True, blank=True)
    trimmed_at = models.DateTimeField(null=True, blank=True)
    trimmed_report_id = models.IntegerField(null=True, blank=True)
    # The standard review flags (ThreadFlag.STANDARD), copied from the ThreadFlag rows by services.review so the
    # flag filter is a walk of a small partial index in activity order, not a probe of the flags per thread.
    # Free tags are filtered through their ThreadFlag rows.
    flag_needs_follow_up = models.BooleanField(default=False)
    flag_escalated = models.BooleanField(default=False)
    flag_reviewed = models.BooleanField(default=False)
    # Set on objects mirrored from a remote Foundry project: where they live and their id there.
    remote_project = models.ForeignKey(
        "RemoteProject", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    remote_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL = not mirrored)
    # When a sync found the object gone from the remote (it is kept, marked, never silently dropped).
    remote_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["remote_project", "remote_id"],
                condition=Q(remote_project__isnull=False),
                name="thread_remote_unique",
            )
        ]
        indexes = [
            models.Index(fields=["-last_activity_at", "-id"], name="thread_activity"),
            models.Index(fields=["project", "-last_activity_at", "-id"], name="thread_project_activity"),
            # The list's other sort orders, walked by keyset like the activity order.
            models.Index(fields=["-created_at", "-id"], name="thread_created_order"),
            models.Index(fields=["-message_count", "-id"], name="thread_message_count"),
            models.Index(fields=["last_agent", "-last_activity_at"], name="thread_agent_activity"),
            models.Index(fields=["last_run_status", "-last_activity_at", "-id"], name="thread_status_activity"),
            # Partial: few threads have a failed run, and an index of only those tells SQLite's planner so (its
            # statistics see a boolean column as two halves).
            models.Index(
                fields=["-last_activity_at", "-id"], condition=Q(has_failed_run=True), name="thread_failed_activity"
            ),
            # The same threads by project (search's "failed run in project X": 1.5 ms instead of reading all 33k
            # threads of the project).
            models.Index(
                fields=["project", "-last_activity_at", "-id"],
                condition=Q(has_failed_run=True),
                name="thread_failed_project",
            ),
            # "Has a failed run" by message count: a walk of these threads in order instead of reading all of them and
            # sorting (SQLite, 100k threads: 11.4 -> 5.7 ms CPU p50 for the list's page).
            models.Index(
                fields=["-message_count", "-id"], condition=Q(has_failed_run=True), name="thread_failed_messages"
            ),
            models.Index(
                fields=["-last_activity_at", "-id"],
                condition=Q(flag_needs_follow_up=True),
                name="thread_follow_up_activity",
            ),
            models.Index(
                fields=["-last_activity_at", "-id"], condition=Q(flag_escalated=True), name="thread_escalated_activity"
            ),
            models.Index(
                fields=["-last_activity_at", "-id"], condition=Q(flag_reviewed=True), name="thread_reviewed_activity"
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def metadata_items(self) -> list[tuple[str, Any]]:
        """The metadata's pairs, for templates: ``metadata.items`` there would read a key named "items"."""
        return list(self.metadata.items()) if isinstance(self.metadata, dict) else []


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        INCOMPLETE = "incomplete"
        COMPLETED = "completed"

    id = models.CharField(primary_key=True, max_length=40, default=ids.new_message_id, editable=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    # Position in the thread (1, 2, …): a total order that timestamps cannot give, and the keyset cursor.
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    # Content parts in the API's output shape: [{"type": "text", "text": {"value", "annotations"}}, …].
    content = models.JSONField(default=list)
    # Plain text of all text parts, for display, search and token counting.
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETED)
    incomplete_details = models.JSONField(null=True, blank=True)
    agent = models.ForeignKey("Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Set on objects mirrored from a remote Foundry project: where they live and their id there.
    remote_project = models.ForeignKey(
        "RemoteProject", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    remote_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL = not mirrored)

    class Meta:
        ordering = ["thread", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["thread", "seq"], name="message_thread_seq"),
            models.UniqueConstraint(
                fields=["remote_project", "remote_id"],
                condition=Q(remote_project__isnull=False),
                name="message_remote_unique",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="message_created")]

    def __str__(self) -> str:
        return self.id

    @property
    def parts(self) -> list[Any]:
        """The content parts, or none when the stored JSON is not a list (the page then shows ``text``)."""
        return self.content if isinstance(self.content, list) else []
