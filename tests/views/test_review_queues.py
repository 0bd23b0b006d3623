"""Review queue pages: defining a queue, My queue, the item page (submit, skip, next), results and CSV, by role."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from agents_admin.models import AuditEvent, Review, ReviewItem, ReviewQueue
from agents_admin.roles import ADMIN, AUDITOR, REVIEWER
from agents_admin.services import retention
from agents_admin.services import review_queues as svc
from agents_admin.services.review import thread_flag_set
from tests.factories import make_thread
from tests.personas import client_for, user_with_role

pytestmark = pytest.mark.django_db

RUBRIC_LINES = (
    "Resolved? | yes_no | required\nHelpfulness | scale | required\nTopic | category: billing, bug\nComment | text"
)


@pytest.fixture
def ann() -> User:
    return user_with_role(REVIEWER, "ann")


def make_queue(reviewers: list[User], **overrides: object) -> ReviewQueue:
    data = {
        "name": "Quality",
        "filters": {},
        "scope": ReviewQueue.Scope.BACKFILL,
        "rubric": [
            {"label": "Resolved?", "kind": "yes_no", "required": True},
            {"label": "Helpfulness", "kind": "scale", "required": True},
        ],
        "reviewers": reviewers,
        **overrides,
    }
    queue = svc.queue_create(data=data)
    svc.queue_intake(queue_id=queue.pk, now=timezone.now() + timedelta(hours=1))
    queue.refresh_from_db()
    return queue


def test_an_admin_defines_a_queue_with_a_filter_reviewers_and_a_rubric(ann: User) -> None:
    admin = client_for(user_with_role(ADMIN, "boss"))
    page = admin.get(reverse("agents_admin:review_queue_create"))
    assert page.status_code == 200 and b"Rubric" in page.content and b"ann" in page.content
    response = admin.post(
        reverse("agents_admin:review_queue_create"),
        {
            "name": "Escalations",
            "flag": "escalated",
            "run_status": "has_failed",
            "q": "refund",
            "entry": "sample",
            "sample_percent": "20",
            "scope": "backfill",
            "reviewers": [ann.pk],
            "assignment": "pull",
            "reviews_per_item": "1",
            "rubric": RUBRIC_LINES,
            "enabled": "on",
        },
    )
    queue = ReviewQueue.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "agents_admin:review_queue_results", args=[queue.pk]
    )
    assert queue.filters == {"flag": "escalated", "run_status": "has_failed", "q": "refund"}
    assert (queue.entry, queue.sample_percent, queue.assignment) == ("sample", 20, "pull")
    assert [f["kind"] for f in queue.rubric] == ["yes_no", "scale", "category", "text"]
    assert queue.rubric[2]["choices"] == ["billing", "bug"]
    assert AuditEvent.objects.filter(action="review_queue.create").count() == 1
    # Edit: the form reads the stored queue back, and a change is audited with what changed.
    edit = admin.get(reverse("agents_admin:review_queue_edit", args=[queue.pk]))
    assert b"Topic | category: billing, bug" in edit.content and b'value="escalated"' in edit.content


def test_a_bad_rubric_or_sample_is_shown_beside_its_field_and_nothing_is_saved(ann: User) -> None:
    admin = client_for(user_with_role(ADMIN, "boss"))
    response = admin.post(
        reverse("agents_admin:review_queue_create"),
        {"name": "Q", "entry": "sample", "scope": "new", "reviewers": [ann.pk], "assignment": "pull",
         "reviews_per_item": "1", "rubric": "Stars | five_stars"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "the kind must be one of" in response.content.decode()
    assert not ReviewQueue.objects.exists()
    response = admin.post(
        reverse("agents_admin:review_queue_create"),
        {"name": "Q", "entry": "sample", "scope": "new", "reviewers": [ann.pk], "assignment": "pull",
         "reviews_per_item": "1", "rubric": "Ok | yes_no"},
    )  # fmt: skip
    assert "A sample is 1-100 %" in response.content.decode() and not ReviewQueue.objects.exists()


def test_roles_reviewers_work_queues_only_admins_define_them(ann: User) -> None:
    reviewer, auditor = client_for(ann), client_for(user_with_role(AUDITOR, "aud"))
    assert reviewer.get(reverse("agents_admin:my_queue")).status_code == 200
    assert reviewer.get(reverse("agents_admin:review_queue_create")).status_code == 403
    assert reviewer.get(reverse("agents_admin:review_queue_list")).status_code == 403
    assert auditor.get(reverse("agents_admin:my_queue")).status_code == 403


def test_my_queue_shows_whats_waiting_and_next_opens_the_thread_with_the_rubric(ann: User) -> None:
    thread = make_thread(messages=["My parcel never arrived"])
    queue = make_queue([ann])
    client = client_for(ann)
    home = client.get(reverse("agents_admin:my_queue"))
    assert "Quality" in home.content.decode() and 'class="waiting">1<' in home.content.decode()
    partial = client.get(reverse("agents_admin:my_queue"), headers={"HX-Request": "true"})
    assert b"<html" not in partial.content and b"Quality" in partial.content
    nxt = client.get(reverse("agents_admin:review_next", args=[queue.pk]))
    item = ReviewItem.objects.get()
    assert nxt["Location"] == reverse("agents_admin:review_item", args=[queue.pk, item.pk])
    page = client.get(nxt["Location"]).content.decode()
    assert "My parcel never arrived" in page and "Resolved?" in page and "review.js" in page
    assert AuditEvent.objects.filter(action="thread.view", object_id=thread.id, actor=ann).exists()


def test_submitting_goes_to_the_next_item_and_a_missing_answer_is_shown(ann: User) -> None:
    make_thread(messages=["one"])
    make_thread(messages=["two"])
    queue = make_queue([ann])
    client = client_for(ann)
    first = ReviewItem.objects.order_by("id").first()
    assert first is not None
    url = reverse("agents_admin:review_item", args=[queue.pk, first.pk])
    missing = client.post(url, {"action": "submit", "score_resolved": "yes"})
    assert missing.status_code == 400 and "This field is required." in missing.content.decode()
    done = client.post(url, {"action": "submit", "score_resolved": "yes", "score_helpfulness": "5"})
    assert done["Location"] == reverse("agents_admin:review_next", args=[queue.pk])
    second = ReviewItem.objects.order_by("id").last()
    assert client.get(done["Location"])["Location"] == reverse("agents_admin:review_item", args=[queue.pk, second.pk])  # type: ignore[union-attr]
    skip = client.post(reverse("agents_admin:review_item", args=[queue.pk, second.pk]), {"action": "skip"})  # type: ignore[union-attr]
    assert skip.status_code == 400 and "This field is required" in skip.content.decode()
    client.post(
        reverse("agents_admin:review_item", args=[queue.pk, second.pk]), {"action": "skip", "skip_reason": "Spam"}
    )  # type: ignore[union-attr]
    empty = client.get(reverse("agents_admin:review_next", args=[queue.pk]))
    assert empty["Location"] == reverse("agents_admin:my_queue")


def test_someone_not_on_the_queue_cannot_open_or_take_its_items(ann: User) -> None:
    make_thread(messages=["x"])
    queue = make_queue([ann])
    other = client_for(user_with_role(REVIEWER, "zed"))
    item = ReviewItem.objects.get()
    results = reverse("agents_admin:review_queue_results", args=[queue.pk])
    assert other.get(reverse("agents_admin:review_item", args=[queue.pk, item.pk]))["Location"] == results
    url = reverse("agents_admin:review_item", args=[queue.pk, item.pk])
    assert (
        other.post(url, {"action": "submit", "score_resolved": "yes", "score_helpfulness": "1"})["Location"] == results
    )
    assert other.get(reverse("agents_admin:review_next", args=[queue.pk]))["Location"] == results
    assert "You are not a reviewer of this queue." in other.get(results).content.decode()
    assert not Review.objects.exists()


def test_results_table_and_csv_show_each_score_with_reviewer_and_time(ann: User) -> None:
    thread = make_thread(messages=["x"])
    queue = make_queue([ann])
    item = svc.item_next(queue=queue, user=ann)
    assert item is not None
    svc.review_submit(item=item, reviewer=ann, scores={"resolved": "no", "helpfulness": "2"})
    client = client_for(ann)
    page = client.get(reverse("agents_admin:review_queue_results", args=[queue.pk])).content.decode()
    assert thread.id in page and "ann" in page and "<td>no</td>" in page and "<td>2</td>" in page
    response = client.get(reverse("agents_admin:review_queue_csv", args=[queue.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0] == ["thread_id", "reviewer", "reviewed_at", "skipped", "skip_reason", "resolved", "helpfulness"]
    assert rows[1][:2] == [thread.id, "ann"] and rows[1][3:] == ["no", "", "no", "2"]
    assert rows[1][2].startswith(str(timezone.now().year))


def test_the_thread_page_shows_where_it_stands_and_its_reviews(ann: User) -> None:
    thread = make_thread(messages=["x"])
    queue = make_queue([ann])
    admin = client_for(user_with_role(ADMIN, "boss"))
    page = admin.get(reverse("agents_admin:thread_detail", args=[thread.id])).content.decode()
    assert "in a review queue" in page and 'id="reviews"' not in page
    retention.hold_place(thread=thread, reason="Legal case 7", actor=None)
    thread_flag_set(thread=thread, name="escalated", on=True, actor=None)
    item = svc.item_next(queue=queue, user=ann)
    assert item is not None
    svc.review_submit(item=item, reviewer=ann, scores={"resolved": "yes", "helpfulness": "4"})
    page = admin.get(reverse("agents_admin:thread_detail", args=[thread.id])).content.decode()
    head = page[page.index('class="card thread-head"') :]
    head = head[: head.index("</section>")]
    assert "<dt>Project</dt>" in head and "Legal case 7" in head and "system" in head
    assert ">escalated</a>" in head and "reviewed ✓" in head
    reviews = page[page.index('id="reviews"') :]
    reviews = reviews[: reviews.index("</section>")]
    assert "Quality" in reviews and "ann" in reviews and "<dt>Resolved?</dt><dd>yes</dd>" in reviews
    assert "<dt>Helpfulness</dt><dd>4</dd>" in reviews
