"""Search grouped by thread: one row per thread with its newest hits and how many, pages that neither repeat nor
skip a thread, and hits whose links open the thread at that message with the words marked."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from agents_admin.models import Message
from agents_admin.selectors import search
from agents_admin.selectors.search import HITS_COUNTED, marked_words, query_words, thread_search
from agents_admin.selectors.threads import ThreadFilters
from tests.factories import make_message, make_project, make_thread

pytestmark = pytest.mark.django_db


def test_hits_are_grouped_per_thread_with_their_count_and_newest_snippets() -> None:
    busy = make_thread(messages=[f"refund request number {i}" for i in range(5)] + ["thanks"])
    quiet = make_thread(messages=["hello", "where is my refund?"])
    make_thread(messages=["nothing to see"])
    page = thread_search(q="refund")
    assert [group.thread.id for group in page.threads] == [quiet.id, busy.id]  # newest match first
    by_id = {group.thread.id: group for group in page.threads}
    assert (by_id[busy.id].count, by_id[busy.id].more) == (5, False)
    assert [hit.message.seq for hit in by_id[busy.id].hits] == [5, 4, 3]  # the newest three
    assert all("<mark>refund</mark>" in hit.snippet for hit in by_id[busy.id].hits)
    assert by_id[quiet.id].count == 1 and by_id[quiet.id].hits[0].message.seq == 2
    assert page.next_cursor == ""


def test_a_thread_with_many_hits_says_more_than_it_counts() -> None:
    thread = make_thread(messages=[f"printer jam {i}" for i in range(HITS_COUNTED + 1)])
    [group] = thread_search(q="printer").threads
    assert (group.thread.id, group.count, group.more) == (thread.id, HITS_COUNTED, True)


def test_pages_show_every_matching_thread_once_even_when_its_hits_are_spread_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small walks, so threads' older hits fall on later walks.
    monkeypatch.setattr(search, "FIRST_WALK", 2)
    monkeypatch.setattr(search, "WALK_MATCHES", 4)
    threads = [make_thread() for _ in range(7)]
    for round_ in range(3):  # every thread gets hits early and late, interleaved with the others
        for thread in threads:
            make_message(thread, f"modem reboot {round_}")
    make_message(threads[2], "one more modem reboot")  # newest of all
    seen: list[str] = []
    cursor, pages = "", 0
    while True:
        page = thread_search(q="modem", cursor=cursor, limit=3)
        seen += [group.thread.id for group in page.threads]
        assert all(group.count == (4 if group.thread.id == threads[2].id else 3) for group in page.threads)
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
        assert pages < 20
    assert len(seen) == len(set(seen)) == 7 and set(seen) == {t.id for t in threads}
    assert seen[0] == threads[2].id


def test_thread_filters_narrow_the_threads_and_their_hits_are_all_counted() -> None:
    support = make_project("support")
    inside = make_thread(project=support, messages=["battery drains", "battery again"])
    make_thread(messages=["battery elsewhere"])
    [group] = thread_search(q="battery", filters=ThreadFilters(project="support")).threads
    assert group.thread.id == inside.id and group.count == 2


def test_a_hit_links_to_the_message_with_the_words_to_mark() -> None:
    thread = make_thread(messages=["first", "Two refunds were promised", "last"])
    [group] = thread_search(q='refund -cancelled or "money back"').threads
    [hit] = group.hits
    parts = urlsplit(hit.url)
    assert parts.path == f"/threads/{thread.id}/" and parts.fragment == hit.message.id
    query = parse_qs(parts.query)
    assert query["around"] == ["2"]
    # The form the message holds (from the snippet), then the query's own words; never an excluded one.
    assert query["hl"][0].split() == ["refunds", "refund", "money", "back"]


def test_query_words_and_marked_words() -> None:
    assert query_words('"delivery address" -spam OR late* x') == ["delivery", "address", "late", "x"]
    assert marked_words("a \ue000Refunds\ue001 b", "refund") == ["refunds", "refund"]
    assert marked_words(None, "") == []


def test_a_page_of_threads_costs_a_bounded_number_of_queries(
    admin_client: Client, django_assert_max_num_queries: object
) -> None:
    for i in range(30):
        make_thread(messages=[f"battery drains fast {i}", f"battery still drains {i}"])
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        response = admin_client.get("/search/", {"q": "battery"})
    body = response.content.decode()
    assert body.count('class="card hit-thread"') == 20 and body.count('<li class="hit">') == 40
    assert Message.objects.count() == 60
