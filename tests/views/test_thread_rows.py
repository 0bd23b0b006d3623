"""Thread rows a person can read: the stored title, hold and review state, the sort orders with keyset paging,
and the count of matches (exact below a threshold, estimated or "more than" above)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from agents_admin.models import Thread
from agents_admin.roles import REVIEWER
from agents_admin.selectors import threads as thread_selectors
from agents_admin.selectors.threads import ThreadFilters, thread_count
from agents_admin.services import retention
from agents_admin.services.retention import hold_place
from agents_admin.services.thread_titles import TITLE_LENGTH, thread_titles_refresh
from agents_admin.services.threads import thread_update
from tests.factories import make_message, make_project, make_thread
from tests.personas import client_for, user_with_role
from tests.retention_helpers import make_aged_thread, make_policy

pytestmark = pytest.mark.django_db


def test_the_title_is_the_metadata_title_else_the_first_user_message_trimmed() -> None:
    long = "  Where   is\nmy refund? " + "really " * 40
    thread = make_thread(messages=[long, "second question"])
    assert thread.title is not None and thread.title.startswith("Where is my refund? really")
    assert len(thread.title) == TITLE_LENGTH and thread.title.endswith("…")
    answered_first = make_thread()
    make_message(answered_first, "Hello, how can I help?", role="assistant")
    make_message(answered_first, "My card was charged twice")
    assert Thread.objects.get(pk=answered_first.pk).title == "My card was charged twice"
    titled = make_thread(metadata={"title": "Double charge"}, messages=["ignored for the title"])
    assert titled.title == "Double charge"
    # Dropping the metadata title falls back to the first user message; setting one takes over.
    assert thread_update(thread=titled, metadata={}).title == "ignored for the title"
    assert thread_update(thread=titled, metadata={"title": "Renamed"}).title == "Renamed"
    assert make_thread().title is None


def test_the_bulk_refresh_gives_every_thread_the_same_title_the_services_keep() -> None:
    threads = [
        make_thread(messages=["first words"]),
        make_thread(metadata={"title": "Set"}, messages=["x"]),
        make_thread(),
    ]
    Thread.objects.update(title=None)
    assert thread_titles_refresh(Thread.objects.all()) == 3
    assert [Thread.objects.get(pk=t.pk).title for t in threads] == ["first words", "Set", None]


def test_rows_show_the_title_hold_and_review_state(admin_client: Client) -> None:
    held = make_thread(messages=["<b>not bold</b> please"])
    hold_place(thread=held, reason="legal", actor=None)
    Thread.objects.filter(pk=held.pk).update(review_state="reviewed")
    plain = make_thread(messages=["hi"])
    body = admin_client.get(reverse("agents_admin:thread_list")).content.decode()
    row = body[body.index(f'href="/threads/{held.id}/"') :]
    row = row[: row.index("</tr>")]
    assert "&lt;b&gt;not bold&lt;/b&gt; please</a>" in row
    assert '<span class="tag tag-hold">on hold</span>' in row and "reviewed ✓" in row
    other = body[body.index(f'href="/threads/{plain.id}/"') :]
    assert "on hold" not in other[: other.index("</tr>")] and "review" not in other[: other.index("</tr>")]


@pytest.mark.parametrize("sort", ["activity", "created", "messages"])
def test_each_sort_order_pages_through_every_thread_once(admin_client: Client, sort: str) -> None:
    threads = [make_thread(messages=["m"] * (n % 7)) for n in range(60)]
    column = thread_selectors.SORTS[sort]
    expected = list(Thread.objects.order_by(f"-{column}", "-id").values_list("id", flat=True))
    seen: list[str] = []
    params = {"sort": sort}
    for _ in range(4):
        response = admin_client.get(reverse("agents_admin:thread_list"), params, headers={"HX-Request": "true"})
        page = response.context["page"]
        seen.extend(t.id for t in page.threads)
        if not page.next_cursor:
            break
        assert f"sort={sort}&amp;cursor={page.next_cursor}" in response.content.decode()
        params = {"sort": sort, "cursor": page.next_cursor}
    assert seen == expected and len(threads) == 60


def test_the_count_is_exact_below_the_limit_and_says_more_above_it(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(4):
        make_thread(messages=["x"])
    body = admin_client.get(reverse("agents_admin:thread_list")).content.decode()
    assert '<p class="result-count">4 threads</p>' in body
    monkeypatch.setattr(thread_selectors, "COUNT_EXACT_LIMIT", 2)
    count = thread_count(ThreadFilters(date_to=None, project="default"))
    if connection.vendor == "postgresql":  # the planner's estimate, or "more than" when it guesses low
        assert count.estimated or count.at_least
    else:
        assert (count.value, count.at_least) == (2, True)
    assert thread_count(ThreadFilters(project="no-such-project")).value == 0


def test_a_trimmed_thread_says_how_many_messages_went_by_which_policy_and_when(admin_client: Client) -> None:
    project = make_project("support")
    thread = make_aged_thread(days=40, messages=6, project=project)
    policy = make_policy(project=project, action="trim", keep_last_messages=2, name="Keep two")
    report = retention.purge_start(policy=policy, trigger="manual", enqueue=False)
    report = retention.purge_execute(report_id=report.pk)
    assert report is not None and report.messages == 4
    body = admin_client.get(reverse("agents_admin:thread_detail", args=[thread.id])).content.decode()
    banner = body[body.index('class="trim-banner"') :]
    banner = banner[: banner.index("</p>")]
    link = reverse("agents_admin:purge_report_detail", args=[report.pk])
    assert f'4 earlier messages removed by <a href="{link}">Keep two</a> on <time' in banner
    # Someone who may not read purge reports sees the same sentence without the link.
    reviewer = client_for(user_with_role(REVIEWER, "rev"))
    body = reviewer.get(reverse("agents_admin:thread_detail", args=[thread.id])).content.decode()
    assert "4 earlier messages removed by Keep two on" in body and link not in body
    untouched = make_thread(messages=["hi"])
    assert (
        "trim-banner"
        not in admin_client.get(reverse("agents_admin:thread_detail", args=[untouched.id])).content.decode()
    )
