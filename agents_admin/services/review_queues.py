"""Writes for review queues: defining a queue, feeding it threads (intake), handing items out, reviews and skips.

Intake walks threads in (created_at, id) order from a cursor kept on the queue, a bounded window at a time: each
window is one short transaction that tests the window's threads against the queue's filter, samples them, creates
their items (assigned round-robin, or left for reviewers to pull) and moves the cursor and the counters. Nothing
ever reads every thread at once, and a page never counts items: the queue carries its counters.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import Review, ReviewItem, ReviewQueue, ReviewQueueReviewer, Thread
from agents_admin.models.threads import REVIEW_QUEUED, REVIEW_REVIEWED, REVIEW_SKIPPED
from agents_admin.selectors.search import threads_with_words
from agents_admin.selectors.threads import ThreadFilters, threads_matching
from agents_admin.services.audit import Actor, audit_record, changed_fields

# Threads read per intake window: small enough for a short transaction, large enough that 100k threads take a few
# hundred windows.
INTAKE_WINDOW = 1_000
# Intake leaves threads this young alone, so a conversation enters once it has had a chance to happen (and the
# filters on runs and flags see how it went).
INTAKE_SETTLE = timedelta(minutes=5)
# A pulled item stays with the reviewer who opened it this long; then another reviewer may take it.
CLAIM_MINUTES = 30
MAX_RUBRIC_FIELDS = 20
MAX_CHOICES = 12
MAX_TEXT = 5_000
MAX_REVIEWS_PER_ITEM = 5
KINDS = {"yes_no": "Yes / no", "scale": "1–5", "category": "Categories", "text": "Free text"}
FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
QUEUE_FIELDS = (
    "name",
    "description",
    "filters",
    "entry",
    "sample_percent",
    "per_day",
    "scope",
    "assignment",
    "reviews_per_item",
    "rubric",
    "enabled",
)


# --- defining a queue -----------------------------------------------------------------------------------------


def rubric_clean(rubric: Any) -> list[dict[str, Any]]:
    """The rubric as stored: a list of fields {key, label, kind, choices, required}; InvalidInput naming ``rubric``
    and the field at fault otherwise."""
    if not isinstance(rubric, list) or not rubric:
        raise InvalidInput("A rubric has at least one field.", param="rubric")
    if len(rubric) > MAX_RUBRIC_FIELDS:
        raise InvalidInput(f"A rubric has at most {MAX_RUBRIC_FIELDS} fields.", param="rubric")
    cleaned: list[dict[str, Any]] = []
    keys: set[str] = set()
    for position, field in enumerate(rubric, start=1):
        where = f"Field {position}"
        if not isinstance(field, dict):
            raise InvalidInput(f"{where} is not an object.", param="rubric")
        label = str(field.get("label") or "").strip()
        if not label or len(label) > 120:
            raise InvalidInput(f"{where} needs a label of 1-120 characters.", param="rubric")
        key = str(field.get("key") or re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_"))[:40]
        if not FIELD_KEY.match(key):
            raise InvalidInput(f"{where}: the key {key!r} must be lower-case letters, digits and '_'.", param="rubric")
        if key in keys:
            raise InvalidInput(f"{where}: the key {key!r} is used twice.", param="rubric")
        keys.add(key)
        kind = field.get("kind")
        if kind not in KINDS:
            raise InvalidInput(f"{where}: the kind must be one of {', '.join(KINDS)}.", param="rubric")
        choices: list[str] = []
        if kind == "category":
            raw = field.get("choices")
            choices = [str(c).strip() for c in raw if str(c).strip()] if isinstance(raw, list) else []
            if not 2 <= len(choices) <= MAX_CHOICES or len(set(choices)) != len(choices):
                raise InvalidInput(f"{where}: a category field has 2-{MAX_CHOICES} different choices.", param="rubric")
        cleaned.append(
            {"key": key, "label": label, "kind": kind, "choices": choices, "required": bool(field.get("required"))}
        )
    return cleaned


def queue_clean(data: dict[str, Any], *, queue: ReviewQueue | None = None) -> dict[str, Any]:
    """Check a queue's settings together (the form and any other caller); returns them cleaned."""
    name = str(data.get("name") or "").strip()
    if not name:
        raise InvalidInput("A queue needs a name.", param="name")
    if ReviewQueue.objects.filter(name__iexact=name).exclude(pk=queue.pk if queue else None).exists():
        raise Conflict(f"A queue named {name!r} exists already.", param="name")
    filters, errors = ThreadFilters.from_params(data.get("filters") or {})
    if errors:
        param, message = next(iter(errors.items()))
        raise InvalidInput(f"{param}: {message}", param=param)
    words = str((data.get("filters") or {}).get("q") or "").strip()[:200]
    entry = data.get("entry") or ReviewQueue.Entry.ALL
    sample_percent = data.get("sample_percent")
    per_day = data.get("per_day")
    if entry == ReviewQueue.Entry.SAMPLE and not (isinstance(sample_percent, int) and 1 <= sample_percent <= 100):
        raise InvalidInput("A sample is 1-100 % of the matching threads.", param="sample_percent")
    if entry == ReviewQueue.Entry.PER_DAY and not (isinstance(per_day, int) and per_day >= 1):
        raise InvalidInput("Say how many threads a day enter (1 or more).", param="per_day")
    reviewers = list(data.get("reviewers") or [])
    if not reviewers:
        raise InvalidInput("Choose at least one reviewer.", param="reviewers")
    reviews_per_item = int(data.get("reviews_per_item") or 1)
    if not 1 <= reviews_per_item <= min(MAX_REVIEWS_PER_ITEM, len(reviewers)):
        raise InvalidInput(
            "Each thread can be reviewed by at most as many reviewers as the queue has.", param="reviews_per_item"
        )
    params = filters.to_params()
    if words:
        params["q"] = words
    return {
        "name": name,
        "description": str(data.get("description") or "").strip(),
        "filters": params,
        "entry": entry,
        "sample_percent": sample_percent if entry == ReviewQueue.Entry.SAMPLE else None,
        "per_day": per_day if entry == ReviewQueue.Entry.PER_DAY else None,
        "scope": data.get("scope") or ReviewQueue.Scope.NEW,
        "assignment": data.get("assignment") or ReviewQueue.Assignment.ROUND_ROBIN,
        "reviews_per_item": reviews_per_item,
        "rubric": rubric_clean(data.get("rubric")),
        "reviewers": reviewers,
        "enabled": bool(data.get("enabled", True)),
    }


def _snapshot(queue: ReviewQueue, reviewers: list[Any]) -> dict[str, Any]:
    state = {name: getattr(queue, name) for name in QUEUE_FIELDS}
    state["reviewers"] = sorted(user.get_username() for user in reviewers)
    return state


def queue_create(*, data: dict[str, Any], actor: Actor = None, actor_label: str = "") -> ReviewQueue:
    """Create a queue from settings that ``queue_clean`` accepts; a new-only queue starts its intake now."""
    cleaned = queue_clean(data)
    reviewers = cleaned.pop("reviewers")
    with transaction.atomic():
        queue = ReviewQueue(**cleaned, created_by=actor if getattr(actor, "is_authenticated", False) else None)
        if queue.scope == ReviewQueue.Scope.NEW:
            queue.intake_after_at = timezone.now()
        try:
            with transaction.atomic():
                queue.save()
        except IntegrityError:
            raise Conflict(f"A queue named {queue.name!r} exists already.", param="name") from None
        ReviewQueueReviewer.objects.bulk_create(ReviewQueueReviewer(queue=queue, user=user) for user in reviewers)
        audit_record(
            action="review_queue.create", actor=actor, actor_label=actor_label, object_type="review_queue",
            object_id=str(queue.pk), after=_snapshot(queue, reviewers),
        )  # fmt: skip
    return queue


def queue_update(
    *, queue: ReviewQueue, data: dict[str, Any], actor: Actor = None, actor_label: str = ""
) -> ReviewQueue:
    """Change a queue. Items already in it stay; the new filter and sampling apply to threads entering from now.
    A reviewer taken off the queue keeps their reviews; their open round-robin items go back to the others."""
    cleaned = queue_clean(data, queue=queue)
    reviewers = cleaned.pop("reviewers")
    with transaction.atomic():
        queue = ReviewQueue.objects.select_for_update().get(pk=queue.pk)
        before = _snapshot(queue, list(queue.reviewers.all()))
        for name, value in cleaned.items():
            setattr(queue, name, value)
        queue.save()
        wanted = {user.pk for user in reviewers}
        ReviewQueueReviewer.objects.filter(queue=queue).exclude(user_id__in=wanted).delete()
        present = set(ReviewQueueReviewer.objects.filter(queue=queue).values_list("user_id", flat=True))
        ReviewQueueReviewer.objects.bulk_create(
            ReviewQueueReviewer(queue=queue, user=user) for user in reviewers if user.pk not in present
        )
        # Items assigned to someone no longer on the queue: free for the others (pull) or reassigned lazily.
        ReviewItem.objects.filter(queue=queue, status=ReviewItem.Status.OPEN).exclude(
            assigned_to_id__in=wanted
        ).exclude(assigned_to__isnull=True).update(assigned_to=None, claimed_at=None)
        old, new = changed_fields(before, _snapshot(queue, reviewers))
        audit_record(
            action="review_queue.update", actor=actor, actor_label=actor_label, object_type="review_queue",
            object_id=str(queue.pk), before=old, after=new,
        )  # fmt: skip
    return queue


# --- intake ---------------------------------------------------------------------------------------------------


def _sampled(queue: ReviewQueue, thread_id: str) -> bool:
    """Whether a thread falls in the queue's sample: a stable hash, so rerunning a window picks the same threads."""
    if queue.entry != ReviewQueue.Entry.SAMPLE:
        return True
    digest = hashlib.sha256(f"{queue.pk}:{thread_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < (queue.sample_percent or 0)


@dataclass
class IntakeResult:
    read: int = 0  # threads of the window
    entered: int = 0
    more: bool = False  # another window is waiting (this one was full and the day's quota not reached)


def queue_intake(*, queue_id: int, now: datetime | None = None, window: int = INTAKE_WINDOW) -> IntakeResult:
    """Read the next window of threads after the queue's cursor and enter those that match; one transaction.

    Safe to run twice at once: the queue row is locked (PostgreSQL skips a queue another worker holds; SQLite
    serialises writers), and items are unique per (queue, thread).
    """
    now = now or timezone.now()
    with transaction.atomic():
        queue = ReviewQueue.objects.select_for_update(skip_locked=True).filter(pk=queue_id, enabled=True).first()
        if queue is None:
            return IntakeResult()
        candidates = Thread.objects.filter(created_at__lt=now - INTAKE_SETTLE)
        if queue.intake_after_at is not None:
            candidates = candidates.filter(
                Q(created_at__gt=queue.intake_after_at)
                | Q(created_at=queue.intake_after_at, id__gt=queue.intake_after_id)
            )
        quota = _quota_left(queue, now)
        if quota == 0:
            return IntakeResult()
        rows = list(candidates.order_by("created_at", "id").values_list("id", "created_at")[:window])
        result = IntakeResult(read=len(rows), more=len(rows) == window)
        if not rows:
            ReviewQueue.objects.filter(pk=queue.pk).update(intake_checked_at=now)
            return result
        wanted = _window_matches(queue, [row[0] for row in rows])
        entering: list[str] = []
        last: tuple[str, datetime] | None = None
        for thread_id, created_at in rows:
            if thread_id in wanted:
                if quota is not None and len(entering) >= quota:
                    result.more = False  # the rest of the window waits for tomorrow's quota
                    break
                entering.append(thread_id)
            last = (thread_id, created_at)
        if last is None:
            return result
        created = _items_create(queue, entering)
        result.entered = created
        day = now.date()
        day_count = (queue.intake_day_count if queue.intake_day == day else 0) + created
        ReviewQueue.objects.filter(pk=queue.pk).update(
            intake_after_at=last[1], intake_after_id=last[0], intake_checked_at=now, intake_day=day,
            intake_day_count=day_count, items_entered=F("items_entered") + created,
            next_reviewer=queue.next_reviewer,
        )  # fmt: skip
    return result


def _window_matches(queue: ReviewQueue, thread_ids: list[str]) -> set[str]:
    """Which of a window's threads the queue's filter (and words) select and its sample keeps."""
    filters, _ = ThreadFilters.from_params(queue.filters or {})
    matching = threads_matching(filters).filter(pk__in=thread_ids).values_list("id", flat=True)
    ids = [thread_id for thread_id in matching if _sampled(queue, thread_id)]
    words = str((queue.filters or {}).get("q") or "").strip()
    if words and ids:
        return threads_with_words(words, ids)
    return set(ids)


def _quota_left(queue: ReviewQueue, now: datetime) -> int | None:
    if queue.entry != ReviewQueue.Entry.PER_DAY:
        return None
    used = queue.intake_day_count if queue.intake_day == now.date() else 0
    return max(0, (queue.per_day or 0) - used)


def _items_create(queue: ReviewQueue, thread_ids: list[str]) -> int:
    if not thread_ids:
        return 0
    present = set(ReviewItem.objects.filter(queue=queue, thread_id__in=thread_ids).values_list("thread_id", flat=True))
    fresh = [thread_id for thread_id in thread_ids if thread_id not in present]
    reviewers: list[int] = []
    if queue.assignment == ReviewQueue.Assignment.ROUND_ROBIN:
        reviewers = list(queue.memberships.order_by("user_id").values_list("user_id", flat=True))
    items = []
    for thread_id in fresh:
        assignee = None
        if reviewers:
            assignee = reviewers[queue.next_reviewer % len(reviewers)]
            queue.next_reviewer += 1
        items.append(ReviewItem(queue=queue, thread_id=thread_id, assigned_to_id=assignee))
    ReviewItem.objects.bulk_create(items, batch_size=500)
    # The Threads list shows where each thread stands; a thread already reviewed elsewhere stays "reviewed".
    Thread.objects.filter(pk__in=fresh).exclude(review_state=REVIEW_REVIEWED).update(review_state=REVIEW_QUEUED)
    return len(items)


def review_intake_due(*, now: datetime | None = None, max_windows: int = 20) -> dict[int, int]:
    """The beat task's work: every enabled queue takes up to ``max_windows`` windows (so one big backfill cannot
    hold up the others for long); returns the threads entered per queue."""
    now = now or timezone.now()
    entered: dict[int, int] = {}
    for queue_id in (
        ReviewQueue.objects.filter(enabled=True).order_by("intake_checked_at", "id").values_list("pk", flat=True)[:200]
    ):
        total = 0
        for _ in range(max_windows):
            result = queue_intake(queue_id=queue_id, now=now)
            total += result.entered
            if not result.more or (result.read == 0):
                break
        entered[queue_id] = total
    return entered


# --- working a queue ------------------------------------------------------------------------------------------


def _claimable(queue: ReviewQueue, user: Any, now: datetime) -> Q:
    """The open items ``user`` may take next in ``queue``."""
    if queue.assignment == ReviewQueue.Assignment.ROUND_ROBIN:
        # Their own, or one whose reviewer left the queue (assigned to nobody).
        return Q(assigned_to=user) | Q(assigned_to__isnull=True)
    stale = now - timedelta(minutes=CLAIM_MINUTES)
    return Q(assigned_to__isnull=True) | Q(assigned_to=user) | Q(claimed_at__lt=stale)


def item_next(*, queue: ReviewQueue, user: Any, now: datetime | None = None) -> ReviewItem | None:
    """Claim and return the next item ``user`` should review in ``queue`` (the oldest they may take and have not
    reviewed or skipped), or None when there is none. An item already claimed by them comes first."""
    now = now or timezone.now()
    if not ReviewQueueReviewer.objects.filter(queue=queue, user=user).exists():
        raise Conflict("You are not a reviewer of this queue.", param="queue")
    open_items = ReviewItem.objects.filter(queue=queue, status=ReviewItem.Status.OPEN).exclude(reviews__reviewer=user)
    mine = open_items.filter(assigned_to=user).order_by("id").first()
    if mine is not None:
        ReviewItem.objects.filter(pk=mine.pk).update(claimed_at=now)
        return mine
    for _attempt in range(5):
        candidate = open_items.filter(_claimable(queue, user, now)).order_by("id").first()
        if candidate is None:
            return None
        # Conditional on the item still being free: two reviewers pulling at once get different items.
        claimed = (
            ReviewItem.objects.filter(pk=candidate.pk, status=ReviewItem.Status.OPEN)
            .filter(_claimable(queue, user, now))
            .update(assigned_to=user, claimed_at=now)
        )
        if claimed:
            candidate.assigned_to = user
            return candidate
    return None


def scores_clean(rubric: list[dict[str, Any]], raw: dict[str, Any]) -> dict[str, Any]:
    """A reviewer's answers as stored: yes/no as booleans, 1-5 as ints, categories from their choices, text
    trimmed. InvalidInput naming the field (``score_<key>``) for a missing required answer or a bad value."""
    scores: dict[str, Any] = {}
    for field in rubric:
        key, kind = field["key"], field["kind"]
        param = f"score_{key}"
        value = raw.get(key)
        text = "" if value is None else str(value).strip()
        if text == "":
            if field.get("required"):
                raise InvalidInput(f"{field['label']}: this answer is required.", param=param)
            continue
        if kind == "yes_no":
            if text.lower() not in ("yes", "no", "true", "false"):
                raise InvalidInput(f"{field['label']}: answer yes or no.", param=param)
            scores[key] = text.lower() in ("yes", "true")
        elif kind == "scale":
            if text not in ("1", "2", "3", "4", "5"):
                raise InvalidInput(f"{field['label']}: choose 1 to 5.", param=param)
            scores[key] = int(text)
        elif kind == "category":
            if text not in field.get("choices", []):
                raise InvalidInput(f"{field['label']}: choose one of the listed categories.", param=param)
            scores[key] = text
        else:
            if len(text) > MAX_TEXT:
                raise InvalidInput(f"{field['label']}: at most {MAX_TEXT} characters.", param=param)
            scores[key] = text
    return scores


def review_submit(
    *, item: ReviewItem, reviewer: Any, scores: dict[str, Any], actor_label: str = "", now: datetime | None = None
) -> Review:
    """Record ``reviewer``'s scores for ``item``: validated against the queue's rubric; once per reviewer."""
    queue = item.queue
    cleaned = scores_clean(queue.rubric, scores)
    return _review_record(
        item=item, reviewer=reviewer, scores=cleaned, skip_reason="", actor_label=actor_label, now=now
    )


def review_skip(
    *, item: ReviewItem, reviewer: Any, reason: str, actor_label: str = "", now: datetime | None = None
) -> Review:
    """``reviewer`` passes on ``item`` with a reason; the item goes to another reviewer if one is left."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why you skip this thread.", param="skip_reason")
    if len(reason) > 500:
        raise InvalidInput("A reason is at most 500 characters.", param="skip_reason")
    return _review_record(item=item, reviewer=reviewer, scores={}, skip_reason=reason, actor_label=actor_label, now=now)


def _review_record(
    *, item: ReviewItem, reviewer: Any, scores: dict[str, Any], skip_reason: str, actor_label: str, now: datetime | None
) -> Review:
    now = now or timezone.now()
    skipped = bool(skip_reason)
    with transaction.atomic():
        queue = ReviewQueue.objects.select_for_update().get(pk=item.queue_id)
        item = ReviewItem.objects.select_for_update(of=("self",)).select_related("thread").get(pk=item.pk)
        membership = ReviewQueueReviewer.objects.filter(queue=queue, user=reviewer).first()
        if membership is None:
            raise Conflict("You are not a reviewer of this queue.", param="queue")
        if item.status != ReviewItem.Status.OPEN:
            raise Conflict("This thread has had all its reviews already.", param="item", code="item_closed")
        earlier = list(Review.objects.filter(item=item).only("reviewer_id", "scores", "skipped"))
        if any(review.reviewer_id == reviewer.pk for review in earlier):
            raise Conflict("You have reviewed this thread already.", param="item", code="already_reviewed")
        review = Review.objects.create(
            item=item, queue=queue, thread_id=item.thread_id, reviewer=reviewer, scores=scores, skipped=skipped,
            skip_reason=skip_reason,
        )  # fmt: skip
        done = item.reviews_done + (0 if skipped else 1)
        status, assignee = _after_review(queue, item, done, {r.reviewer_id for r in earlier} | {reviewer.pk})
        ReviewItem.objects.filter(pk=item.pk).update(
            reviews_done=done, status=status, assigned_to_id=assignee, claimed_at=None
        )
        agreement = _agreement_add(queue, scores, [r.scores for r in earlier if not r.skipped]) if not skipped else None
        ReviewQueue.objects.filter(pk=queue.pk).update(
            reviews_submitted=F("reviews_submitted") + (0 if skipped else 1),
            skips=F("skips") + (1 if skipped else 0),
            items_done=F("items_done") + (1 if status == ReviewItem.Status.DONE else 0),
            items_skipped=F("items_skipped") + (1 if status == ReviewItem.Status.SKIPPED else 0),
            **({"agreement": agreement} if agreement is not None else {}),
        )
        if not skipped:
            Thread.objects.filter(pk=item.thread_id).update(review_state=REVIEW_REVIEWED)
        elif status == ReviewItem.Status.SKIPPED:
            Thread.objects.filter(pk=item.thread_id, review_state=REVIEW_QUEUED).update(review_state=REVIEW_SKIPPED)
        ReviewQueueReviewer.objects.filter(pk=membership.pk).update(
            reviewed=F("reviewed") + (0 if skipped else 1), skipped=F("skipped") + (1 if skipped else 0),
            last_review_at=now,
        )  # fmt: skip
        outcome = {"reason": skip_reason} if skipped else {"scores": scores}
        audit_record(
            action="review.skip" if skipped else "review.submit", actor=reviewer, actor_label=actor_label,
            object_type="thread", object_id=item.thread_id, project_id=item.thread.project_id,
            after={"queue": queue.name, **outcome},
        )  # fmt: skip
    return review


def _after_review(queue: ReviewQueue, item: ReviewItem, done: int, seen: set[int]) -> tuple[str, int | None]:
    """The item's status and assignee after a review: done once enough reviewers scored it; skipped when every
    reviewer passed on it; else open to any reviewer who has not seen it yet (so the second reviewer of a thread
    need not wait for a turn in the rotation)."""
    if done >= queue.reviews_per_item:
        return ReviewItem.Status.DONE, item.assigned_to_id
    members = set(queue.memberships.values_list("user_id", flat=True))
    if not members - seen:
        return (ReviewItem.Status.DONE if done else ReviewItem.Status.SKIPPED), item.assigned_to_id
    return ReviewItem.Status.OPEN, None


def _agreement_add(queue: ReviewQueue, scores: dict[str, Any], earlier: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Count each pair of answers to the same field of the same thread, and whether they agreed."""
    if not earlier:
        return None
    agreement = {key: dict(value) for key, value in (queue.agreement or {}).items()}
    for other in earlier:
        for key, value in scores.items():
            if key in other:
                counts = agreement.setdefault(key, {"pairs": 0, "agreed": 0})
                counts["pairs"] += 1
                counts["agreed"] += int(_same(value, other[key]))
    return agreement


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() == b.strip().casefold()
    return bool(a == b)
