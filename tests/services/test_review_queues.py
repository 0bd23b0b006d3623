"""Review queues: defining one, intake in bounded windows, handing items out, reviews, skips, agreement, retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import AuditEvent, Review, ReviewItem, ReviewQueue, Thread
from agents_admin.roles import ADMIN, REVIEWER
from agents_admin.selectors.review_queues import my_queues, queue_agreement, thread_reviews
from agents_admin.services import review_queues as svc
from agents_admin.services.retention import thread_purge
from agents_admin.services.review import thread_flag_set
from tests.factories import make_thread
from tests.personas import user_with_role

pytestmark = pytest.mark.django_db

RUBRIC = [
    {"label": "Resolved?", "kind": "yes_no", "required": True},
    {"label": "Helpfulness", "kind": "scale", "required": True},
    {"label": "Topic", "kind": "category", "choices": ["billing", "bug", "other"]},
    {"label": "Comment", "kind": "text"},
]
LATER = timedelta(hours=1)  # intake leaves threads younger than INTAKE_SETTLE alone


def queue_data(reviewers: list[User], **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Quality",
        "filters": {},
        "entry": ReviewQueue.Entry.ALL,
        "scope": ReviewQueue.Scope.BACKFILL,
        "assignment": ReviewQueue.Assignment.ROUND_ROBIN,
        "reviews_per_item": 1,
        "rubric": RUBRIC,
        "reviewers": reviewers,
    }
    data.update(overrides)
    return data


@pytest.fixture
def ann() -> User:
    return user_with_role(REVIEWER, "ann")


@pytest.fixture
def bob() -> User:
    return user_with_role(REVIEWER, "bob")


def intake_all(queue: ReviewQueue, **kwargs: Any) -> int:
    entered = 0
    while True:
        result = svc.queue_intake(queue_id=queue.pk, now=timezone.now() + LATER, **kwargs)
        entered += result.entered
        if not result.more:
            return entered


def test_a_queue_is_created_with_its_rubric_and_reviewers_and_audited(ann: User) -> None:
    admin = user_with_role(ADMIN, "boss")
    queue = svc.queue_create(data=queue_data([ann], filters={"flag": "escalated", "q": "refund"}), actor=admin)
    assert [f["key"] for f in queue.rubric] == ["resolved", "helpfulness", "topic", "comment"]
    assert queue.rubric[0]["required"] and not queue.rubric[2]["required"]
    assert queue.filters == {"flag": "escalated", "q": "refund"}
    event = AuditEvent.objects.get(action="review_queue.create")
    assert event.actor == admin and event.after["reviewers"] == ["ann"] and event.object_id == str(queue.pk)


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"rubric": []}, "rubric"),
        ({"rubric": [{"label": "Topic", "kind": "category", "choices": ["only one"]}]}, "rubric"),
        ({"rubric": [{"label": "A", "kind": "stars"}]}, "rubric"),
        ({"rubric": [{"label": "Same", "kind": "text"}, {"label": "Same", "kind": "scale"}]}, "rubric"),
        ({"entry": ReviewQueue.Entry.SAMPLE, "sample_percent": 0}, "sample_percent"),
        ({"entry": ReviewQueue.Entry.PER_DAY}, "per_day"),
        ({"reviewers": []}, "reviewers"),
        ({"reviews_per_item": 2}, "reviews_per_item"),
        ({"filters": {"run_status": "nonsense"}}, "run_status"),
    ],
)
def test_a_bad_queue_is_refused_naming_the_field_and_nothing_is_written(
    ann: User, overrides: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidInput) as error:
        svc.queue_create(data={**queue_data([ann]), **overrides})
    assert error.value.param == param
    assert not ReviewQueue.objects.exists() and not AuditEvent.objects.filter(action__startswith="review").exists()


def test_backfill_enters_matching_threads_round_robin_in_bounded_windows(ann: User, bob: User) -> None:
    threads = [make_thread(messages=[f"question {n}"]) for n in range(7)]
    for thread in threads[:5]:
        thread_flag_set(thread=thread, name="escalated", on=True, actor=None)
    queue = svc.queue_create(data=queue_data([ann, bob], filters={"flag": "escalated"}))
    first = svc.queue_intake(queue_id=queue.pk, now=timezone.now() + LATER, window=3)
    assert (first.read, first.entered, first.more) == (3, 3, True)
    assert intake_all(queue, window=3) == 2
    items = ReviewItem.objects.filter(queue=queue).order_by("id")
    assert sorted(item.thread_id for item in items) == sorted(t.id for t in threads[:5])
    assert [item.assigned_to_id for item in items] == [ann.pk, bob.pk, ann.pk, bob.pk, ann.pk]
    queue.refresh_from_db()
    assert queue.items_entered == 5
    # Caught up: another pass reads nothing new and enters nothing twice.
    assert intake_all(queue) == 0
    make_thread(messages=["late"])
    assert intake_all(queue) == 0  # not flagged


def test_a_new_only_queue_leaves_older_threads_and_young_ones_wait_to_settle(ann: User) -> None:
    make_thread(messages=["before the queue"])
    queue = svc.queue_create(data=queue_data([ann], scope=ReviewQueue.Scope.NEW))
    fresh = make_thread(messages=["after"])
    assert svc.queue_intake(queue_id=queue.pk, now=timezone.now()).entered == 0  # too young still
    assert intake_all(queue) == 1
    assert list(ReviewItem.objects.values_list("thread_id", flat=True)) == [fresh.id]


def test_a_sample_keeps_about_its_share_and_the_same_threads_on_a_rerun(ann: User) -> None:
    project_id = make_thread().project_id
    Thread.objects.bulk_create(Thread(project_id=project_id) for _ in range(399))
    queue = svc.queue_create(data=queue_data([ann], entry=ReviewQueue.Entry.SAMPLE, sample_percent=25))
    entered = intake_all(queue)
    assert 60 <= entered <= 140  # 25 % of 400, by a stable hash
    chosen = set(ReviewItem.objects.values_list("thread_id", flat=True))
    assert all(svc._sampled(queue, thread_id) for thread_id in chosen)


def test_per_day_stops_at_the_quota_and_continues_the_next_day(ann: User) -> None:
    threads = [make_thread() for _ in range(5)]
    queue = svc.queue_create(data=queue_data([ann], entry=ReviewQueue.Entry.PER_DAY, per_day=2))
    today = timezone.now() + LATER
    assert svc.queue_intake(queue_id=queue.pk, now=today).entered == 2
    assert svc.queue_intake(queue_id=queue.pk, now=today).entered == 0
    assert svc.queue_intake(queue_id=queue.pk, now=today + timedelta(days=1)).entered == 2
    assert [i.thread_id for i in ReviewItem.objects.order_by("id")] == [t.id for t in threads[:4]]


def test_words_narrow_the_intake_to_threads_with_a_matching_message(ann: User) -> None:
    refund = make_thread(messages=["I want a refund for my order"])
    make_thread(messages=["How do I reset my password?"])
    queue = svc.queue_create(data=queue_data([ann], filters={"q": "refund"}))
    assert intake_all(queue) == 1
    assert ReviewItem.objects.get().thread_id == refund.id


def test_a_reviewer_works_their_items_and_the_counters_move(ann: User, bob: User) -> None:
    threads = [make_thread(messages=[f"q{n}"]) for n in range(3)]
    queue = svc.queue_create(data=queue_data([ann, bob]))
    intake_all(queue)
    item = svc.item_next(queue=queue, user=ann)
    assert item is not None and item.thread_id == threads[0].id
    with pytest.raises(InvalidInput) as error:
        svc.review_submit(item=item, reviewer=ann, scores={"resolved": "yes"})
    assert error.value.param == "score_helpfulness"
    review = svc.review_submit(
        item=item, reviewer=ann, scores={"resolved": "yes", "helpfulness": "4", "topic": "bug", "comment": " ok "}
    )
    assert review.scores == {"resolved": True, "helpfulness": 4, "topic": "bug", "comment": "ok"}
    with pytest.raises(Conflict):
        svc.review_submit(item=item, reviewer=ann, scores={"resolved": "no", "helpfulness": "1"})
    nxt = svc.item_next(queue=queue, user=ann)
    assert nxt is not None and nxt.thread_id == threads[2].id  # threads[1] is bob's
    assert svc.item_next(queue=queue, user=bob).thread_id == threads[1].id  # type: ignore[union-attr]
    queue.refresh_from_db()
    assert (queue.items_done, queue.reviews_submitted) == (1, 1)
    mine = my_queues(ann)[0]
    assert (mine.membership.reviewed, mine.waiting) == (1, 1)
    assert AuditEvent.objects.filter(action="review.submit", actor=ann, object_id=threads[0].id).count() == 1
    assert [r.reviewer_name for r in thread_reviews(threads[0].id)] == ["ann"]


def test_a_skip_needs_a_reason_and_hands_the_item_to_the_other_reviewer(ann: User, bob: User) -> None:
    thread = make_thread(messages=["hello"])
    queue = svc.queue_create(data=queue_data([ann, bob]))
    intake_all(queue)
    item = svc.item_next(queue=queue, user=ann)
    assert item is not None
    with pytest.raises(InvalidInput):
        svc.review_skip(item=item, reviewer=ann, reason="  ")
    svc.review_skip(item=item, reviewer=ann, reason="Not my language")
    assert svc.item_next(queue=queue, user=ann) is None
    assert svc.item_next(queue=queue, user=bob).thread_id == thread.id  # type: ignore[union-attr]
    svc.review_skip(item=item, reviewer=bob, reason="Me neither")
    item.refresh_from_db()
    queue.refresh_from_db()
    assert item.status == ReviewItem.Status.SKIPPED
    assert (queue.items_skipped, queue.skips, queue.items_done) == (1, 2, 0)


def test_pulled_items_go_to_one_reviewer_at_a_time(ann: User, bob: User) -> None:
    threads = [make_thread(messages=["x"]) for _ in range(2)]
    queue = svc.queue_create(data=queue_data([ann, bob], assignment=ReviewQueue.Assignment.PULL))
    intake_all(queue)
    assert not ReviewItem.objects.filter(assigned_to__isnull=False).exists()
    first = svc.item_next(queue=queue, user=ann)
    second = svc.item_next(queue=queue, user=bob)
    assert first is not None and second is not None
    assert {first.thread_id, second.thread_id} == {t.id for t in threads}
    assert svc.item_next(queue=queue, user=ann).pk == first.pk  # type: ignore[union-attr]
    # A claim left for longer than CLAIM_MINUTES is free for others.
    later = timezone.now() + timedelta(minutes=svc.CLAIM_MINUTES + 1)
    ReviewItem.objects.filter(pk=second.pk).update(claimed_at=timezone.now())
    svc.review_submit(item=first, reviewer=ann, scores={"resolved": "no", "helpfulness": "2"})
    assert svc.item_next(queue=queue, user=ann, now=later).pk == second.pk  # type: ignore[union-attr]


def test_two_reviewers_of_a_thread_give_the_agreement_per_field(ann: User, bob: User) -> None:
    first, second = make_thread(messages=["a"]), make_thread(messages=["b"])
    queue = svc.queue_create(data=queue_data([ann, bob], reviews_per_item=2))
    intake_all(queue)
    answers = {
        (ann.pk, first.id): {"resolved": "yes", "helpfulness": "5"},
        (bob.pk, first.id): {"resolved": "yes", "helpfulness": "4"},
        (ann.pk, second.id): {"resolved": "no", "helpfulness": "2"},
        (bob.pk, second.id): {"resolved": "no", "helpfulness": "2"},
    }
    # Each starts with their own round-robin item, then takes the one the other has scored.
    for user in (ann, bob, ann, bob):
        item = svc.item_next(queue=queue, user=user)
        assert item is not None
        svc.review_submit(item=item, reviewer=user, scores=answers[(user.pk, item.thread_id)])
    assert svc.item_next(queue=queue, user=ann) is None
    queue.refresh_from_db()
    assert queue.items_done == 2 and queue.reviews_submitted == 4
    agreement = {row.label: (row.pairs, row.agreed, row.percent) for row in queue_agreement(queue)}
    assert agreement == {"Resolved?": (2, 2, 100), "Helpfulness": (2, 1, 50)}


def test_a_purged_thread_takes_its_reviews_along_and_the_queue_keeps_its_figures(ann: User) -> None:
    thread = make_thread(messages=["to be purged"])
    queue = svc.queue_create(data=queue_data([ann]))
    intake_all(queue)
    item = svc.item_next(queue=queue, user=ann)
    assert item is not None
    svc.review_submit(item=item, reviewer=ann, scores={"resolved": "yes", "helpfulness": "3"})
    thread_purge(thread=thread, trigger="console-delete")
    assert not Review.objects.exists() and not ReviewItem.objects.exists()
    queue.refresh_from_db()
    assert (queue.items_entered, queue.items_done, queue.reviews_submitted) == (1, 1, 1)
