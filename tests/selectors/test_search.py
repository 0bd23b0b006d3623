"""Search across threads, thread filters, the search page and the jump box."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from agents_admin.models import Run, RunStatus, Thread
from agents_admin.selectors.search import fts5_query, highlight, message_search
from agents_admin.selectors.threads import HAS_FAILED_RUN, ThreadFilters, thread_list
from agents_admin.services.review import thread_flag_set, thread_note_add
from agents_admin.services.runs import run_execute
from tests.factories import make_agent, make_message, make_project, make_run, make_thread

pytestmark = pytest.mark.django_db


def found(q: str, filters: ThreadFilters | None = None) -> set[str]:
    return {hit.message.text for hit in message_search(q=q, filters=filters).hits}


def test_it_finds_messages_by_word_across_threads() -> None:
    make_thread(messages=["My parcel never arrived", "Thanks for waiting"])
    make_thread(messages=["Where is my parcel?"])
    make_thread(messages=["Unrelated question about invoices"])
    assert found("parcel") == {"My parcel never arrived", "Where is my parcel?"}


def test_it_matches_other_forms_of_a_word_by_stemming() -> None:
    make_thread(messages=["I want a refund", "They refunded me twice", "Refunding is slow"])
    make_thread(messages=["No money back here"])
    assert found("refunds") == {"I want a refund", "They refunded me twice", "Refunding is slow"}


def test_a_quoted_phrase_matches_the_words_in_that_order_only() -> None:
    make_thread(messages=["The delivery was late again", "a late delivery, sorry"])
    assert found('"late delivery"') == {"a late delivery, sorry"}
    assert found("late delivery") == {"The delivery was late again", "a late delivery, sorry"}


def test_a_minus_word_excludes_messages_and_or_matches_either() -> None:
    make_thread(messages=["password reset link", "password change request", "reset the router"])
    assert found("password -reset") == {"password change request"}
    assert found("router or change") == {"password change request", "reset the router"}


def test_operators_typed_by_a_user_are_plain_words_not_fts_syntax() -> None:
    make_thread(messages=['text: NEAR(a b) "quoted AND stuff'])
    assert fts5_query('text: NEAR(a b) "quoted AND stuff') == '"text" AND "NEAR a" AND "b" AND "quoted AND stuff"'
    assert fts5_query("   ") == ""
    assert found('text: NEAR(a b) "quoted AND stuff') == {'text: NEAR(a b) "quoted AND stuff'}
    assert message_search(q="*** ( )").hits == []


def test_filters_combine_with_the_search_words() -> None:
    other = make_project("other")
    agent = make_agent()
    wanted = make_thread(messages=["printer on fire /fail"], metadata={"customer": "acme"})
    Thread.objects.filter(pk=wanted.pk).update(last_agent=agent)
    run = make_run(thread=wanted, agent=agent)
    run_execute(run_id=run.id)  # the offline model fails it, as a model outage would
    assert Run.objects.get(pk=run.pk).status == RunStatus.FAILED
    thread_flag_set(thread=wanted, name="escalated", on=True, actor=None)
    thread_note_add(thread=wanted, author=None, body="called the customer")
    no_flag = make_thread(messages=["printer on fire"], metadata={"customer": "acme"})
    make_thread(project=other, messages=["printer on fire"])
    make_thread(messages=["printer on fire"], metadata={"customer": "globex"})

    everything = ThreadFilters(
        project="default",
        agent=agent.id,
        run_status=HAS_FAILED_RUN,
        metadata_key="customer",
        metadata_value="acme",
        flag="escalated",
        has_notes=True,
    )
    hits = message_search(q="printer", filters=everything).hits
    assert [hit.message.thread_id for hit in hits] == [wanted.id]
    meta_only = message_search(q="printer", filters=ThreadFilters(metadata_key="customer", metadata_value="acme"))
    assert {hit.message.thread_id for hit in meta_only.hits} == {wanted.id, no_flag.id}
    assert len(message_search(q="printer", filters=ThreadFilters(project="other")).hits) == 1
    assert message_search(q="printer", filters=ThreadFilters(flag="reviewed")).hits == []


def test_the_date_range_keeps_the_messages_of_threads_last_active_in_it() -> None:
    from datetime import UTC, date, datetime, timedelta

    old = make_thread(messages=["old invoice question", "old invoice reminder"])
    Thread.objects.filter(pk=old.pk).update(last_activity_at=datetime(2024, 1, 10, 12, tzinfo=UTC))
    make_thread(messages=["new invoice question"])
    today = datetime.now(UTC).date()
    assert found("invoice", ThreadFilters(date_from=today - timedelta(days=1))) == {"new invoice question"}
    assert found("invoice", ThreadFilters(date_from=date(2024, 1, 10), date_to=date(2024, 1, 10))) == {
        "old invoice question",
        "old invoice reminder",
    }
    assert found("invoice", ThreadFilters(date_to=date(2024, 1, 9))) == set()


def test_the_snippet_escapes_the_message_and_marks_the_match() -> None:
    make_thread(messages=['<script>alert("x")</script> please refund <b>now</b>', "is 5 < 6 & can I get a refund"])
    tagged, plain = sorted(message_search(q="refund").hits, key=lambda hit: hit.message.seq)
    # PostgreSQL's headline drops tag-like tokens, SQLite keeps and escapes them: never raw markup either way.
    assert "<script>" not in tagged.snippet and "<b>" not in tagged.snippet
    assert "<mark>refund</mark>" in tagged.snippet
    assert "5 &lt; 6 &amp; can" in plain.snippet and "<mark>refund</mark>" in plain.snippet


def test_marker_characters_inside_a_message_cannot_make_unbalanced_tags() -> None:
    assert highlight("a \ue000 b") == "a  b"
    assert highlight("<i>\ue000x\ue001</i>") == "&lt;i&gt;<mark>x</mark>&lt;/i&gt;"


def test_a_hit_links_to_its_thread_at_that_message() -> None:
    thread = make_thread(messages=["first", "second with the keyword"])
    [hit] = message_search(q="keyword").hits
    assert hit.url == f"/threads/{thread.id}/?around=2#{hit.message.id}"


def test_pages_of_results_neither_repeat_nor_skip_while_new_messages_arrive() -> None:
    threads = [make_thread() for _ in range(3)]
    expected = {make_message(threads[i % 3], f"ticket number {i}").id for i in range(25)}
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = message_search(q="ticket", cursor=cursor, limit=10)
        seen.extend(hit.message.id for hit in page.hits)
        make_message(threads[0], f"another ticket arrives {pages}")  # newer than everything paged so far
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert len(seen) == len(set(seen))
    assert set(seen) == expected


def test_the_thread_list_pages_by_last_activity_with_flags() -> None:
    threads = [make_thread(messages=[f"m{i}"]) for i in range(5)]
    thread_flag_set(thread=threads[0], name="reviewed", on=True, actor=None)
    first = thread_list(ThreadFilters(), limit=3)
    assert [t.id for t in first.threads] == [t.id for t in reversed(threads)][:3]
    second = thread_list(ThreadFilters(), cursor=first.next_cursor, limit=3)
    assert [t.id for t in second.threads] == [threads[1].id, threads[0].id]
    assert second.next_cursor == ""
    assert [[flag.name for flag in t.flags.all()] for t in second.threads] == [[], ["reviewed"]]
    assert [t.id for t in thread_list(ThreadFilters(flag="reviewed")).threads] == [threads[0].id]
    assert thread_list(ThreadFilters(), cursor="garbage!").threads[0].id == threads[-1].id


def test_the_search_page_renders_results_as_a_page_and_as_a_partial(admin_client: Client) -> None:
    thread = make_thread(messages=["the router <keeps> rebooting"])
    url = reverse("agents_admin:search") + "?q=router&flag=&meta="
    page = admin_client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "<html" in body and thread.id in body and "<mark>router</mark>" in body
    assert "<keeps>" not in body
    partial = admin_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'id="search-results"' in partial and thread.id in partial


def test_the_search_page_without_words_lists_threads_matching_the_filters(admin_client: Client) -> None:
    acme = make_thread(messages=["hi"], metadata={"customer": "acme"})
    other = make_thread(messages=["hi"], metadata={"customer": "globex"})
    body = admin_client.get(reverse("agents_admin:search"), {"meta": "customer=acme"}).content.decode()
    assert acme.id in body and other.id not in body


def test_bad_filters_are_shown_beside_their_field_and_ignored(admin_client: Client) -> None:
    thread = make_thread(messages=["hello"])
    response = admin_client.get(reverse("agents_admin:search"), {"meta": "no equals sign", "flag": "Bad Flag!"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Use key=value" in body and "lower-case letters" in body
    assert thread.id in body


def test_a_page_of_results_costs_a_bounded_number_of_queries(
    admin_client: Client, django_assert_max_num_queries: object
) -> None:
    agent = make_agent()
    for i in range(30):
        thread = make_thread(messages=[f"battery drains fast {i}"])
        Thread.objects.filter(pk=thread.pk).update(last_agent=agent)
        thread_flag_set(thread=thread, name="escalated", on=True, actor=None)
    admin_client.get(reverse("agents_admin:home"))  # fills the menu's saved views cache (cold: one query more)
    # session, user, the saved views above the form, the audit record, the matches with their messages and
    # snippets (4), the threads, their flags, the filter choices
    with django_assert_max_num_queries(11):  # type: ignore[operator]
        response = admin_client.get(reverse("agents_admin:search"), {"q": "battery"})
    assert response.content.decode().count('class="card hit-thread"') == 20
    with django_assert_max_num_queries(11):  # type: ignore[operator]
        response = admin_client.get(reverse("agents_admin:search"), {"flag": "escalated"})
    assert response.content.decode().count('title="Threads flagged escalated">escalated</a>') == 25


def test_search_needs_a_signed_in_user(anon_client: Client) -> None:
    response = anon_client.get(reverse("agents_admin:search"), {"q": "x"})
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- jump box -------------------------------------------------------------------------------------------------


def test_the_jump_box_goes_to_the_page_of_each_kind_of_id(admin_client: Client) -> None:
    agent = make_agent()
    run = make_run(agent=agent)
    message = run.thread.messages.get()
    jump = reverse("agents_admin:jump")
    assert admin_client.get(jump, {"id": agent.id})["Location"] == f"/agents/{agent.id}/"
    assert admin_client.get(jump, {"id": run.thread_id})["Location"] == f"/threads/{run.thread_id}/"
    assert admin_client.get(jump, {"id": f" {message.id} "})["Location"] == (
        f"/threads/{run.thread_id}/?around=1#{message.id}"
    )
    assert admin_client.get(jump, {"id": run.id})["Location"] == f"/threads/{run.thread_id}/runs/{run.id}/#run-panel"


@pytest.mark.parametrize("object_id", ["thread_doesnotexist", "msg_nope", "run_nope", "asst_nope", "hello", ""])
def test_the_jump_box_shows_a_friendly_page_for_unknown_ids(admin_client: Client, object_id: str) -> None:
    response = admin_client.get(reverse("agents_admin:jump"), {"id": object_id})
    assert response.status_code == 404
    assert "Nothing found" in response.content.decode()


def test_the_header_has_the_jump_box(admin_client: Client) -> None:
    body = admin_client.get(reverse("agents_admin:search")).content.decode()
    assert f'action="{reverse("agents_admin:jump")}"' in body


def test_the_full_text_index_follows_updates_and_deletes() -> None:
    from agents_admin.models import Message

    thread = make_thread(messages=["original wording"])
    Message.objects.filter(thread=thread).update(text="replacement wording")
    assert found("original") == set()
    assert found("replacement") == {"replacement wording"}
    Message.objects.filter(thread=thread).delete()
    assert found("wording") == set()


def test_the_older_matches_link_carries_the_filters_and_the_cursor(admin_client: Client) -> None:
    gold = [make_thread(messages=[f"modem light blinking {i}"], metadata={"plan": "gold"}) for i in range(25)]
    make_thread(messages=["modem light blinking elsewhere"])
    first = admin_client.get(reverse("agents_admin:search"), {"q": "modem", "meta": "plan=gold"})
    body = first.content.decode()
    assert body.count('class="card hit-thread"') == 20
    cursor = first.context["results"].next_cursor
    assert f"?q=modem&amp;meta=plan%3Dgold&amp;cursor={cursor}" in body
    second = admin_client.get(reverse("agents_admin:search"), {"q": "modem", "meta": "plan=gold", "cursor": cursor})
    shown = [group.thread.id for group in first.context["results"].threads + second.context["results"].threads]
    assert shown == [thread.id for thread in reversed(gold)]
    assert second.context["results"].next_cursor == ""


@pytest.fixture(
    # Broad: each match's thread probed (SQLite) or the threads as a subquery (PostgreSQL). Narrow: the matches
    # tested against the threads' message rowids (SQLite), or the threads' messages each tested (PostgreSQL). Few:
    # on SQLite the word intersected with the threads inside FTS5 (its thread column); PostgreSQL as narrow.
    params=[(0, 0, 0), (2_000, 20_000, 0), (2_000, 20_000, 2_000)],
    ids=["broad", "narrow", "few"],
)
def search_plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sets the search's thresholds so that every filtered search takes the plan named by the test id."""
    import agents_admin.selectors.search as selectors
    import agents_admin.selectors.threads as thread_selectors

    thread_first_limit, narrow_messages, fts_threads = request.param
    monkeypatch.setattr(selectors, "THREAD_FIRST_LIMIT", thread_first_limit)
    monkeypatch.setattr(selectors, "SQLITE_ROWID_SET_MESSAGES", narrow_messages)
    monkeypatch.setattr(selectors, "SQLITE_FTS_THREADS", fts_threads)
    monkeypatch.setattr(selectors, "PG_THREAD_FIRST_MESSAGES", narrow_messages)
    monkeypatch.setattr(thread_selectors, "METADATA_SET_LIMIT", thread_first_limit)  # 0: every pair is a common one


@pytest.mark.usefixtures("search_plan")
def test_filtered_search_gives_the_same_hits_whichever_way_the_threads_are_applied() -> None:
    tagged = [make_thread(messages=["screen flickers", "still flickers"]) for _ in range(2)]
    for thread in tagged:
        thread_flag_set(thread=thread, name="needs-follow-up", on=True, actor=None)  # a Thread column
        thread_flag_set(thread=thread, name="vip", on=True, actor=None)  # a free tag: its ThreadFlag rows
        thread_note_add(thread=thread, author=None, body="customer called twice")
    make_thread(messages=["screen flickers too"])
    for filters in (ThreadFilters(flag="needs-follow-up"), ThreadFilters(flag="vip"), ThreadFilters(has_notes=True)):
        hits = message_search(q="flicker", filters=filters).hits
        assert sorted(hit.message.thread_id for hit in hits) == sorted([t.id for t in tagged] * 2), filters
    assert message_search(q="flicker", filters=ThreadFilters(flag="escalated")).hits == []


@pytest.mark.usefixtures("search_plan")
def test_filtered_search_pages_through_every_hit_once_whichever_way_the_threads_are_applied() -> None:
    wanted = make_thread(messages=[f"router reboot {i}" for i in range(7)], metadata={"customer": "acme"})
    make_thread(messages=[f"router reboot {i}" for i in range(5)], metadata={"customer": "globex"})
    acme = ThreadFilters(metadata_key="customer", metadata_value="acme")
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        page = message_search(q="router", filters=acme, cursor=cursor, limit=3)
        seen += [hit.message.id for hit in page.hits]
        cursor = page.next_cursor
        if not cursor:
            break
    expected = list(wanted.messages.order_by("-seq").values_list("id", flat=True))
    assert seen == expected  # newest first, no duplicates, no gaps


def test_the_on_hold_filter_lists_threads_with_an_active_hold_only(admin_client: Client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from agents_admin.models import ThreadHold

    held, released, expired = (make_thread(messages=["held or not"]) for _ in range(3))
    make_thread(messages=["never held"])
    ThreadHold.objects.create(thread=held, reason="litigation")
    ThreadHold.objects.create(thread=released, reason="done", released_at=timezone.now())
    hold = ThreadHold.objects.create(thread=expired, reason="short")
    ThreadHold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert [t.id for t in thread_list(ThreadFilters(on_hold=True)).threads] == [held.id]
    assert [hit.message.thread_id for hit in message_search(q="held", filters=ThreadFilters(on_hold=True)).hits] == [
        held.id
    ]
    body = admin_client.get(reverse("agents_admin:search"), {"on_hold": "on"}).content.decode()
    assert 'name="on_hold"' in body and held.id in body and released.id not in body and expired.id not in body


def test_a_failed_run_marks_its_thread_for_the_failed_run_filter_until_the_thread_is_gone() -> None:
    failing = make_run(text="please /fail")
    fine = make_run(text="hello")
    run_execute(run_id=failing.id)
    run_execute(run_id=fine.id)
    page = thread_list(ThreadFilters(run_status=HAS_FAILED_RUN))
    assert [t.id for t in page.threads] == [failing.thread_id]
    # A later successful run does not clear it: the thread still has a failed run to review.
    thread = Thread.objects.get(pk=failing.thread_id)
    make_message(thread, "hello again")
    again = make_run(thread=thread, agent=failing.agent)
    run_execute(run_id=again.id)
    assert Thread.objects.get(pk=failing.thread_id).last_run_status == RunStatus.COMPLETED
    assert [t.id for t in thread_list(ThreadFilters(run_status=HAS_FAILED_RUN)).threads] == [failing.thread_id]


def test_the_metadata_filter_follows_metadata_changes_and_deletes() -> None:
    thread = make_thread(metadata={"customer": "acme", "tier": "gold"})
    make_thread(metadata={"customer": "globex"})
    acme = ThreadFilters(metadata_key="customer", metadata_value="acme")
    assert [t.id for t in thread_list(acme).threads] == [thread.id]
    Thread.objects.filter(pk=thread.pk).update(metadata={"customer": "initech"})
    assert thread_list(acme).threads == []
    assert [t.id for t in thread_list(ThreadFilters(metadata_key="customer", metadata_value="initech")).threads] == [
        thread.id
    ]
    assert thread_list(ThreadFilters(metadata_key="tier", metadata_value="gold")).threads == []
    Thread.objects.filter(pk=thread.pk).delete()
    assert thread_list(ThreadFilters(metadata_key="customer", metadata_value="initech")).threads == []


@pytest.mark.parametrize("set_limit", [0, 2_000], ids=["common-pair", "rare-pair"])
def test_the_metadata_filter_lists_the_same_threads_read_as_a_set_or_probed_per_thread(
    monkeypatch: pytest.MonkeyPatch, set_limit: int
) -> None:
    import agents_admin.selectors.threads as thread_selectors

    monkeypatch.setattr(thread_selectors, "METADATA_SET_LIMIT", set_limit)
    gold = [make_thread(metadata={"plan": "gold", "n": str(i)}) for i in range(3)]
    make_thread(metadata={"plan": "silver"})
    make_thread(metadata={"tier": "gold"})
    page = thread_list(ThreadFilters(metadata_key="plan", metadata_value="gold"))
    assert [t.id for t in page.threads] == [t.id for t in reversed(gold)]


@pytest.mark.usefixtures("search_plan")
def test_a_search_within_threads_finds_their_words_only_and_never_matches_the_ids() -> None:
    """Thread ids are in SQLite's full-text index too (the few-threads plan asks it for them): a word that is also a
    piece of every id, or an id itself, finds only messages that say it."""
    says_thread = make_thread(messages=["which thread is this?", "no idea"], metadata={"team": "blue"})
    quiet = make_thread(messages=["nothing to see"], metadata={"team": "blue"})
    make_thread(messages=["another thread elsewhere"], metadata={"team": "red"})
    blue = ThreadFilters(metadata_key="team", metadata_value="blue")
    assert [hit.message.thread_id for hit in message_search(q="thread", filters=blue).hits] == [says_thread.id]
    assert len(message_search(q="thread").hits) == 2
    assert message_search(q=quiet.id).hits == [] and message_search(q=quiet.id.split("_")[1]).hits == []
    assert message_search(q="nothing", filters=blue).hits[0].message.thread_id == quiet.id
