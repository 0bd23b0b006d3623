"""Comments on a message: written by reviewers and up, shown beside the message (page and htmx region), edited and
deleted by their author only (delete confirmed), audited, and gone with their message or thread on every purge path."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents_admin.errors import InvalidInput
from agents_admin.models import AuditEvent, Message, MessageComment, ReviewItem, Thread
from agents_admin.roles import ADMIN, AUDITOR, OPERATOR, REVIEWER
from agents_admin.services import retention, review_queues
from agents_admin.services.review import message_comment_add
from agents_admin.services.threads import message_delete, thread_delete
from tests.confirm_helpers import confirm_post, confirmation_token
from tests.factories import make_project, make_thread
from tests.personas import client_for, user_with_role
from tests.retention_helpers import make_aged_thread, make_policy

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def reviewer() -> User:
    return user_with_role(REVIEWER, "rita")


def _messages(thread: Thread) -> list[Message]:
    return list(Message.objects.filter(thread=thread).order_by("seq"))


def _add_url(message: Message) -> str:
    return reverse("agents_admin:message_comment_add", args=[message.thread_id, message.id])


def _region(html: str, message: Message) -> str:
    """The comments region of ``message`` in a page."""
    start = html.index(f'id="comments-{message.id}"')
    return html[start : html.index("</details>", start)]


def test_a_reviewer_comments_on_one_message_and_it_shows_beside_that_message_only(reviewer: User) -> None:
    thread = make_thread(messages=["Where is my parcel?", "It left the depot yesterday."])
    first, second = _messages(thread)
    client = client_for(reviewer)
    response = client.post(_add_url(second), {"body": "Tone is fine, but <b>no</b> tracking link."}, **HX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<html" not in fragment and f'id="comments-{second.id}"' in fragment
    assert "&lt;b&gt;no&lt;/b&gt; tracking link." in fragment and "rita" in fragment
    page = client.get(reverse("agents_admin:thread_detail", args=[thread.id])).content.decode()
    assert "tracking link" in _region(page, second) and "tracking link" not in _region(page, first)
    # The region sits right after its message's own container, outside its hx-disable.
    assert page.index(f'id="{second.id}"') < page.index(f'id="comments-{second.id}"')
    event = AuditEvent.objects.get(action="comment.create")
    assert event.object_type == "comment" and event.after["message_id"] == second.id
    assert event.after["body"].startswith("Tone is fine")


def test_without_javascript_a_comment_posts_and_returns_to_the_message(reviewer: User) -> None:
    thread = make_thread(messages=["hello"])
    (message,) = _messages(thread)
    response = client_for(reviewer).post(_add_url(message), {"body": "Looks right."})
    assert response.status_code == 302
    assert response["Location"].endswith(f"?around={message.seq}#{message.id}")
    assert MessageComment.objects.get().body == "Looks right."


def test_an_empty_comment_is_refused_beside_the_field(reviewer: User) -> None:
    thread = make_thread(messages=["hello"])
    (message,) = _messages(thread)
    client = client_for(reviewer)
    fragment = client.post(_add_url(message), {"body": "   "}, **HX).content.decode()
    assert 'role="alert"' in fragment and "required" in fragment and '<details class="comment-add" open>' in fragment
    page = client.post(_add_url(message), {"body": ""})
    assert page.status_code == 400 and "<html" in page.content.decode()
    assert not MessageComment.objects.exists()
    with pytest.raises(InvalidInput) as error:
        message_comment_add(message=message, author=reviewer, body="x" * 5_001)
    assert error.value.param == "body"


def test_the_author_edits_their_comment_in_place(reviewer: User) -> None:
    thread = make_thread(messages=["hello"])
    (message,) = _messages(thread)
    comment = message_comment_add(message=message, author=reviewer, body="first take")
    client = client_for(reviewer)
    url = reverse("agents_admin:message_comment_edit", args=[thread.id, comment.pk])
    form = client.get(url, **HX).content.decode()
    assert "<html" not in form and "first take</textarea>" in form and f'id="comment-{comment.pk}"' in form
    assert "<html" in client.get(url).content.decode()  # a page of its own without JavaScript
    fragment = client.post(url, {"body": "second take"}, **HX).content.decode()
    assert f'id="comments-{message.id}"' in fragment and "second take" in fragment and "edited" in fragment
    comment.refresh_from_db()
    assert comment.body == "second take" and comment.updated_at is not None
    event = AuditEvent.objects.get(action="comment.update")
    assert (event.before["body"], event.after["body"]) == ("first take", "second take")


def test_someone_elses_comment_cannot_be_edited_or_deleted_and_shows_no_controls(reviewer: User) -> None:
    thread = make_thread(messages=["hello"])
    (message,) = _messages(thread)
    comment = message_comment_add(message=message, author=reviewer, body="mine")
    other = client_for(user_with_role(ADMIN, "ada"))
    for name in ("message_comment_edit", "message_comment_delete"):
        url = reverse(f"agents_admin:{name}", args=[thread.id, comment.pk])
        assert other.get(url, **HX).status_code == 404
        assert other.post(url, {"body": "theirs", "confirm": "x"}).status_code == 404
    page = other.get(reverse("agents_admin:thread_detail", args=[thread.id])).content.decode()
    assert "mine" in _region(page, message) and ">Edit<" not in _region(page, message)
    assert MessageComment.objects.get().body == "mine"


def test_deleting_ones_comment_asks_first_then_deletes_it_once_audited(reviewer: User) -> None:
    thread = make_thread(messages=["hello"])
    (message,) = _messages(thread)
    comment = message_comment_add(message=message, author=reviewer, body="oops")
    client = client_for(reviewer)
    url = reverse("agents_admin:message_comment_delete", args=[thread.id, comment.pk])
    ask = client.get(url, **HX).content.decode()
    assert "Delete your comment" in ask and "oops" in ask
    # A POST without the page's token changes nothing, and asks again.
    assert "Delete your comment" in client.post(url, {}, **HX).content.decode()
    assert MessageComment.objects.exists()
    done = client.post(url, {"confirm": confirmation_token(ask)}, **HX).content.decode()
    assert f'id="comments-{message.id}"' in done and "oops" not in done
    assert not MessageComment.objects.exists()
    assert AuditEvent.objects.filter(action="comment.delete").count() == 1
    # Without JavaScript: the confirmation page, then back to the message.
    comment = message_comment_add(message=message, author=reviewer, body="again")
    url = reverse("agents_admin:message_comment_delete", args=[thread.id, comment.pk])
    page = client.get(url).content.decode()
    assert "<html" in page and "again" in page
    assert client.post(url, {"confirm": confirmation_token(page)}).status_code == 302
    assert not MessageComment.objects.exists()


@pytest.mark.parametrize(("role", "may"), [(ADMIN, True), (OPERATOR, True), (REVIEWER, True), (AUDITOR, False)])
def test_who_may_comment(role: str, may: bool) -> None:
    thread = make_thread(messages=["hello"])
    (message,) = _messages(thread)
    response = client_for(user_with_role(role)).post(_add_url(message), {"body": "note"}, **HX)
    assert (response.status_code == 200) is may and MessageComment.objects.exists() is may
    if not may:
        assert response.status_code == 403


def test_a_reader_without_the_capability_sees_comments_but_no_form(reviewer: User) -> None:
    thread = make_thread(messages=["hello"])
    (message,) = _messages(thread)
    message_comment_add(message=message, author=reviewer, body="seen by all readers")
    user = user_with_role(REVIEWER, "reader")
    user.groups.clear()
    user.user_permissions.set([])
    user.user_permissions.add(Permission.objects.get(codename="view_conversations"))
    page = client_for(user).get(reverse("agents_admin:thread_detail", args=[thread.id])).content.decode()
    assert "seen by all readers" in page and "Comment on this message" not in page


def test_comments_show_on_the_review_item_page_too(reviewer: User) -> None:
    thread = make_thread(messages=["hello"])
    (message,) = _messages(thread)
    message_comment_add(message=message, author=reviewer, body="context for reviewers")
    queue = review_queues.queue_create(
        data={"name": "q", "scope": "backfill", "reviewers": [reviewer], "rubric": [{"label": "Ok", "kind": "yes_no"}]}
    )
    item = ReviewItem.objects.create(queue=queue, thread=thread)
    page = client_for(reviewer).get(reverse("agents_admin:review_item", args=[queue.pk, item.pk])).content.decode()
    assert "context for reviewers" in page


# --- retention: comments are conversation data -----------------------------------------------------------------


def _commented(thread: Thread, author: User | None = None) -> list[MessageComment]:
    return [message_comment_add(message=m, author=author, body=f"on {m.seq}") for m in _messages(thread)]


def test_a_policy_purge_deletes_the_comments_with_their_threads_and_keeps_the_others() -> None:
    project = make_project("support")
    old = make_aged_thread(days=40, messages=3, project=project)
    young = make_aged_thread(days=1, messages=2, project=project)
    _commented(old), _commented(young)
    report = retention.purge_start(policy=make_policy(project=project), trigger="manual", enqueue=False)
    report = retention.purge_execute(report_id=report.pk)
    assert report is not None and report.messages == 3  # the comments are not counted as messages
    assert not Thread.objects.filter(pk=old.pk).exists()
    assert sorted(MessageComment.objects.values_list("thread_id", flat=True)) == [young.id, young.id]


def test_a_trim_deletes_the_comments_of_the_messages_it_removes() -> None:
    project = make_project("support")
    thread = make_aged_thread(days=40, messages=4, project=project)
    _commented(thread)
    report = retention.purge_start(
        policy=make_policy(project=project, action="trim", keep_last_messages=2), trigger="manual", enqueue=False
    )
    assert retention.purge_execute(report_id=report.pk).messages == 2  # type: ignore[union-attr]
    kept = list(MessageComment.objects.order_by("message__seq").values_list("message__seq", "body"))
    assert kept == [(1, "on 3"), (2, "on 4")]  # beside the same messages, renumbered


def test_deleting_a_thread_or_a_message_deletes_their_comments() -> None:
    thread, other = make_thread(messages=["a", "b"]), make_thread(messages=["c"])
    _commented(thread), _commented(other)
    first, second = _messages(thread)
    message_delete(message=first)
    assert list(MessageComment.objects.filter(thread=thread).values_list("body", flat=True)) == ["on 2"]
    thread_delete(thread=Thread.objects.get(pk=thread.pk))
    assert list(MessageComment.objects.values_list("thread_id", flat=True)) == [other.id]


def test_the_console_delete_of_a_commented_thread_works(admin_client: Client, admin_user: User) -> None:
    thread = make_thread(messages=["a"])
    _commented(thread, admin_user)
    response = confirm_post(admin_client, reverse("agents_admin:thread_delete", args=[thread.id]))
    assert response.status_code == 302 and not MessageComment.objects.exists()


def test_comments_cost_one_query_for_the_whole_page(
    admin_client: Client, admin_user: User, django_assert_max_num_queries
) -> None:
    thread = make_thread(messages=[f"m{i}" for i in range(20)])
    url = reverse("agents_admin:thread_detail", args=[thread.id])
    admin_client.get(url)
    with CaptureQueriesContext(connection) as bare:
        admin_client.get(url)
    _commented(thread, admin_user)
    with CaptureQueriesContext(connection) as commented:
        body = admin_client.get(url).content.decode()
    assert len(commented) == len(bare) and body.count('class="comment"') == 20
    assert len(re.findall(r"on \d+</p>", body)) == 20
