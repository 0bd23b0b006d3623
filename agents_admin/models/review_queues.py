"""Review queues: a saved thread filter that feeds threads to chosen reviewers, who score them on a rubric.

A queue's items and reviews are conversation data: they go with their thread (FK cascade, so every purge path
takes them). The queue's counters are statistics about the work done and stay when threads go.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ReviewQueue(models.Model):
    class Entry(models.TextChoices):
        ALL = "all", "Every matching thread"
        SAMPLE = "sample", "A sample of N % of matching threads"
        PER_DAY = "per_day", "At most N threads a day"

    class Scope(models.TextChoices):
        NEW = "new", "New threads only (created from now on)"
        BACKFILL = "backfill", "Backfill: existing threads too, oldest first"

    class Assignment(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Assigned round-robin to the reviewers"
        PULL = "pull", "Pulled by whichever reviewer is free"

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    # ThreadFilters.to_params(): the same parameters as a Threads URL, read back by ThreadFilters.from_params.
    filters = models.JSONField(default=dict, blank=True)
    entry = models.CharField(max_length=8, choices=Entry.choices, default=Entry.ALL)
    sample_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    per_day = models.PositiveIntegerField(null=True, blank=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.NEW)
    assignment = models.CharField(max_length=12, choices=Assignment.choices, default=Assignment.ROUND_ROBIN)
    # How many reviewers score each thread: 2 or more gives the agreement figures.
    reviews_per_item = models.PositiveSmallIntegerField(default=1)
    # [{"key", "label", "kind": yes_no|scale|category|text, "choices": [...], "required": bool}]; see
    # services.review_queues.rubric_clean.
    rubric = models.JSONField(default=list)
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, through="ReviewQueueReviewer", related_name="+")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Intake: a keyset position over threads in (created_at, id) order; each beat tick reads the next bounded
    # window after it. A new-only queue starts at its creation time, a backfill at the beginning.
    intake_after_at = models.DateTimeField(null=True, blank=True)
    intake_after_id = models.CharField(max_length=40, blank=True)
    intake_checked_at = models.DateTimeField(null=True, blank=True)
    # The day (UTC) the per-day quota counts, and how many threads entered on it.
    intake_day = models.DateField(null=True, blank=True)
    intake_day_count = models.PositiveIntegerField(default=0)
    # Where round-robin assignment continues (an index into the reviewers by id).
    next_reviewer = models.PositiveIntegerField(default=0)

    # Statistics: counters moved with each change, so pages never count items; they stay when threads are purged.
    items_entered = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    items_skipped = models.PositiveIntegerField(default=0)
    reviews_submitted = models.PositiveIntegerField(default=0)
    skips = models.PositiveIntegerField(default=0)
    # {field key: {"pairs": n, "agreed": m}}: each pair of reviews of the same thread that both answered the field.
    agreement = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["enabled", "intake_checked_at"], name="reviewqueue_intake")]

    def __str__(self) -> str:
        return self.name


class ReviewQueueReviewer(models.Model):
    """A reviewer of a queue, with their own counters (the "My queue" figures without counting)."""

    queue = models.ForeignKey(ReviewQueue, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_memberships")
    reviewed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    last_review_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["queue", "user"]
        constraints = [models.UniqueConstraint(fields=["queue", "user"], name="reviewqueuereviewer_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.queue_id}"


class ReviewItem(models.Model):
    """A thread in a queue. Open until ``reviews_per_item`` reviewers submitted (done) or every reviewer skipped it."""

    class Status(models.TextChoices):
        OPEN = "open"
        DONE = "done"
        SKIPPED = "skipped"

    queue = models.ForeignKey(ReviewQueue, on_delete=models.CASCADE, related_name="items")
    thread = models.ForeignKey("Thread", on_delete=models.CASCADE, related_name="review_items")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    # Round-robin: the reviewer it is assigned to. Pull: whoever opened it last, until CLAIM_MINUTES pass.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    reviews_done = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["queue", "id"]
        constraints = [models.UniqueConstraint(fields=["queue", "thread"], name="reviewitem_unique")]
        indexes = [
            # A reviewer's next item (round-robin) and their open count.
            models.Index(
                fields=["queue", "assigned_to", "id"], condition=Q(status="open"), name="reviewitem_open_assigned"
            ),
            # The next unclaimed item (pull).
            models.Index(fields=["queue", "id"], condition=Q(status="open"), name="reviewitem_open"),
        ]

    def __str__(self) -> str:
        return f"{self.thread_id} in {self.queue_id}"


class Review(models.Model):
    """One reviewer's scores for one item, or their skip with a reason."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="reviews")
    queue = models.ForeignKey(ReviewQueue, on_delete=models.CASCADE, related_name="reviews")
    thread = models.ForeignKey("Thread", on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # {field key: value}: True/False, 1-5, a category, or text; fields left empty are absent.
    scores = models.JSONField(default=dict, blank=True)
    skipped = models.BooleanField(default=False)
    skip_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["item", "reviewer"], name="review_item_reviewer")]
        indexes = [
            models.Index(fields=["queue", "-id"], name="review_queue"),
            models.Index(fields=["thread", "-created_at"], name="review_thread"),
        ]

    def __str__(self) -> str:
        return f"review of {self.thread_id} in {self.queue_id}"
