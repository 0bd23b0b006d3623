"""Reads for review queues: a reviewer's queues with their figures, an item, a queue's results, a thread's reviews.

Figures come from the counters on the queue and on each reviewer's membership; the one count a page makes (a
reviewer's open items) is capped at COUNT_CAP index entries, so "My queue" costs the same at 100,000 items.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet
from django.http import Http404

from agents_admin.lib import keyset
from agents_admin.models import Review, ReviewItem, ReviewQueue, ReviewQueueReviewer

COUNT_CAP = 1_000
REVIEWS_PER_PAGE = 50
REVIEWS_ON_THREAD = 20


def queue_get(queue_id: int) -> ReviewQueue:
    try:
        return ReviewQueue.objects.get(pk=queue_id)
    except ReviewQueue.DoesNotExist:
        raise Http404(f"No review queue {queue_id}.") from None


def queue_list() -> list[ReviewQueue]:
    """Every queue by name, with its reviewers' names (for the managers' list; queues are few)."""
    return list(ReviewQueue.objects.prefetch_related("memberships__user").order_by("name"))


def queue_reviewer_ids(queue: ReviewQueue) -> list[int]:
    return list(queue.memberships.order_by("user_id").values_list("user_id", flat=True))


def reviewers_eligible() -> QuerySet[Any]:
    """Users who may be chosen as reviewers: active, with the review capability (by role or as superuser)."""
    users = get_user_model().objects.filter(is_active=True)
    may_review = (
        Q(is_superuser=True)
        | Q(groups__permissions__codename="review_conversations")
        | Q(user_permissions__codename="review_conversations")
    )
    return users.filter(pk__in=users.filter(may_review).values("pk")).order_by("username")


def is_reviewer(queue: ReviewQueue, user: Any) -> bool:
    return ReviewQueueReviewer.objects.filter(queue=queue, user_id=user.pk).exists()


@dataclass
class MyQueue:
    queue: ReviewQueue
    membership: ReviewQueueReviewer
    waiting: int  # open items this reviewer may take, up to COUNT_CAP + 1
    waiting_capped: bool

    @property
    def progress_percent(self) -> int:
        """How much of what entered the queue is done (reviewed, or skipped by everyone)."""
        finished = self.queue.items_done + self.queue.items_skipped
        return round(100 * finished / self.queue.items_entered) if self.queue.items_entered else 0


def my_queues(user: Any) -> list[MyQueue]:
    """The queues ``user`` reviews, with their figures: one query for the queues, one capped count each."""
    memberships = ReviewQueueReviewer.objects.filter(user_id=user.pk, queue__enabled=True).select_related("queue")
    rows = []
    for membership in memberships.order_by("queue__name"):
        waiting = _waiting(membership.queue, user)
        rows.append(MyQueue(membership.queue, membership, min(waiting, COUNT_CAP), waiting > COUNT_CAP))
    return rows


def _waiting(queue: ReviewQueue, user: Any) -> int:
    open_items = ReviewItem.objects.filter(queue=queue, status=ReviewItem.Status.OPEN)
    if queue.assignment == ReviewQueue.Assignment.ROUND_ROBIN:
        open_items = open_items.filter(Q(assigned_to_id=user.pk) | Q(assigned_to__isnull=True))
    open_items = open_items.exclude(reviews__reviewer_id=user.pk)
    return open_items.order_by().values("id")[: COUNT_CAP + 1].count()


def item_get(queue: ReviewQueue, item_id: int) -> ReviewItem:
    try:
        return ReviewItem.objects.select_related("thread", "queue").get(pk=item_id, queue=queue)
    except ReviewItem.DoesNotExist:
        raise Http404(f"No item {item_id} in this queue.") from None


def item_reviews(item: ReviewItem) -> list[Review]:
    return list(item.reviews.select_related("reviewer").order_by("created_at", "id"))


@dataclass
class ReviewPage:
    reviews: list[Review]
    next_cursor: str = ""


def queue_reviews(queue: ReviewQueue, *, cursor: str = "", limit: int = REVIEWS_PER_PAGE) -> ReviewPage:
    """A queue's reviews and skips, newest first, one keyset page (the (queue, id) index)."""
    qs = Review.objects.filter(queue=queue).annotate(reviewer_name=F("reviewer__username"))
    qs = qs.only("id", "thread_id", "scores", "skipped", "skip_reason", "created_at", "reviewer_id")
    position = keyset.cursor_decode(cursor, int_key=True)
    if position is not None:
        qs = qs.filter(id__lt=position[1])
    rows = list(qs.order_by("-id")[: limit + 1])
    page = ReviewPage(reviews=rows[:limit])
    if len(rows) > limit:
        last = rows[limit - 1]
        page.next_cursor = keyset.cursor_encode(last.created_at, last.id)
    return page


def queue_reviews_all(queue: ReviewQueue, *, chunk: int = 2_000) -> Iterator[Review]:
    """Every review of a queue, oldest first, read a chunk at a time by id (for the CSV: flat memory)."""
    after = 0
    while True:
        qs = Review.objects.filter(queue=queue, id__gt=after).annotate(reviewer_name=F("reviewer__username"))
        rows = list(qs.order_by("id")[:chunk])
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1].id


@dataclass
class Agreement:
    label: str
    pairs: int
    agreed: int

    @property
    def percent(self) -> int:
        return round(100 * self.agreed / self.pairs) if self.pairs else 0


def queue_agreement(queue: ReviewQueue) -> list[Agreement]:
    """Per rubric field: pairs of reviewers who answered it for the same thread, and how many agreed."""
    counts = queue.agreement or {}
    return [
        Agreement(field["label"], counts[field["key"]]["pairs"], counts[field["key"]]["agreed"])
        for field in queue.rubric
        if field["key"] in counts
    ]


def thread_reviews(thread_id: str, *, limit: int = REVIEWS_ON_THREAD) -> list[Review]:
    """A thread's reviews, newest first, with the queue and reviewer names (the thread page's Reviews card)."""
    qs = (
        Review.objects.filter(thread_id=thread_id)
        .select_related("queue")
        .annotate(reviewer_name=F("reviewer__username"))
    )
    qs = qs.only(
        "id", "scores", "skipped", "skip_reason", "created_at", "queue", "queue__name", "queue__rubric", "reviewer_id"
    )
    return list(qs.order_by("-created_at", "-id")[:limit])


def score_display(field: dict[str, Any], value: Any) -> str:
    """One answer as a person reads it (and the CSV writes it)."""
    if value is None:
        return ""
    if field["kind"] == "yes_no":
        return "yes" if value else "no"
    return str(value)


def review_answers(rubric: list[dict[str, Any]], review: Review) -> list[tuple[str, str]]:
    """(label, answer) per rubric field, in the rubric's order."""
    scores = review.scores or {}
    return [(field["label"], score_display(field, scores.get(field["key"]))) for field in rubric]


def reviews_shown(thread: Any) -> list[tuple[Review, list[tuple[str, str]]]]:
    """The thread page's Reviews card: each review with its answers labelled by its queue's rubric."""
    return [(review, review_answers(review.queue.rubric, review)) for review in thread_reviews(thread.id)]
