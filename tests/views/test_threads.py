"""Thread pages: list (filters, keyset pages), create, detail (paged history, live run panel), actions, delete."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents_admin.models import Agent, Message, Run, RunStep, Thread, ThreadFlag
from agents_admin.selectors import threads as thread_selectors
from agents_admin.services.connections import connection_create
from agents_admin.services.review import thread_flag_set
from agents_admin.services.runs import run_cancel, run_execute, run_submit_tool_outputs
from agents_admin.services.threads import message_create
from tests.confirm_helpers import confirm_post
from tests.conftest import Worker, wait_for, wait_for_status
from tests.factories import WEATHER_TOOL, make_agent, make_message, make_project, make_run, make_thread

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _detail(thread: Thread) -> str:
    return reverse("agents_admin:thread_detail", args=[thread.id])


def _panel(run: Run) -> str:
    return reverse("agents_admin:run_panel", args=[run.thread_id, run.id])


def _add_messages(thread: Thread, count: int, *, run: Run | None = None) -> None:
    """Many messages at once (the service writes one at a time); keeps message_count and seq consistent."""
    start = thread.message_count
    Message.objects.bulk_create(
        Message(
            thread=thread,
            seq=start + i,
            role="assistant" if run is not None or i % 2 == 0 else "user",
            content=[{"type": "text", "text": {"value": f"message number {start + i}", "annotations": []}}],
            text=f"message number {start + i}",
            run=run,
        )
        for i in range(1, count + 1)
    )
    Thread.objects.filter(pk=thread.pk).update(message_count=start + count)
    thread.refresh_from_db()


# --- access ---------------------------------------------------------------------------------------------


def test_thread_pages_require_login(anon_client: Client) -> None:
    run = make_run()
    urls = [
        reverse("agents_admin:thread_list"),
        reverse("agents_admin:thread_create"),
        _detail(run.thread),
        reverse("agents_admin:thread_delete", args=[run.thread_id]),
        _panel(run),
    ]
    for url in urls:
        response = anon_client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    response = anon_client.post(reverse("agents_admin:message_add", args=[run.thread_id]), {"content": "hi"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert run.thread.messages.count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "/threads/thread_nope/",
        "/threads/thread_nope/delete/",
        "/threads/thread_nope/runs/run_nope/",
    ],
)
def test_unknown_ids_are_404(admin_client: Client, url: str) -> None:
    response = admin_client.get(url)
    assert response.status_code == 404 and "Not found" in response.content.decode()


def test_a_run_of_another_thread_is_404(admin_client: Client) -> None:
    run = make_run()
    other = make_thread()
    response = admin_client.get(reverse("agents_admin:run_panel", args=[other.id, run.id]))
    assert response.status_code == 404
    response = admin_client.post(reverse("agents_admin:run_cancel", args=[other.id, run.id]))
    assert response.status_code == 404
    run.refresh_from_db()
    assert run.status == "queued"


# --- list -----------------------------------------------------------------------------------------------


def test_the_empty_list_invites_to_start_one(admin_client: Client) -> None:
    body = admin_client.get(reverse("agents_admin:thread_list")).content.decode()
    assert "No threads yet" in body


def test_the_list_shows_newest_activity_first_as_page_and_partial(admin_client: Client) -> None:
    older, newer = make_thread(), make_thread()
    make_message(older, "bump")  # moves older's last activity after newer's
    full = admin_client.get(reverse("agents_admin:thread_list")).content.decode()
    partial = admin_client.get(reverse("agents_admin:thread_list"), **HX).content.decode()
    assert "<html" in full and "<html" not in partial
    for body in (full, partial):
        assert body.index(older.id) < body.index(newer.id)


def test_the_list_filters_by_agent_run_status_and_last_activity(admin_client: Client) -> None:
    agent, other_agent = make_agent(name="A"), make_agent(name="B")
    by_agent = make_run(agent=agent).thread
    by_other = make_run(agent=other_agent).thread
    run_cancel(run=by_other.runs.get())
    old = make_thread()
    Thread.objects.filter(pk=old.pk).update(last_activity_at=timezone.now() - timedelta(days=10))
    url = reverse("agents_admin:thread_list")

    def ids(**params: str) -> set[str]:
        return {t.id for t in admin_client.get(url, params).context["page"].threads}

    assert ids(agent=agent.id) == {by_agent.id}
    assert ids(run_status="cancelled") == {by_other.id}
    assert ids(run_status="queued") == {by_agent.id}
    today = timezone.localdate().isoformat()
    assert ids(date_from=today) == {by_agent.id, by_other.id}
    assert ids(date_to=(timezone.localdate() - timedelta(days=5)).isoformat()) == {old.id}
    # A bad filter value is reported, not a server error.
    response = admin_client.get(url, {"date_from": "not-a-date"})
    assert response.status_code == 200 and "Enter a valid date" in response.content.decode()


def test_pages_have_no_duplicates_or_gaps(admin_client: Client) -> None:
    threads = [make_thread() for _ in range(60)]
    # Ties on last_activity_at must still page cleanly (the id breaks them).
    same = timezone.now()
    Thread.objects.filter(pk__in=[t.id for t in threads[10:40]]).update(last_activity_at=same)
    seen: list[str] = []
    url, params = reverse("agents_admin:thread_list"), {}
    for _ in range(10):
        response = admin_client.get(url, params, **HX)
        page = response.context["page"]
        seen.extend(t.id for t in page.threads)
        if not page.next_cursor:
            break
        assert f"cursor={page.next_cursor}" in response.content.decode()
        params = {"cursor": page.next_cursor}
    expected = list(Thread.objects.order_by("-last_activity_at", "-id").values_list("id", flat=True))
    assert seen == expected and len(set(seen)) == 60


def test_the_list_costs_a_fixed_number_of_queries(admin_client: Client, django_assert_max_num_queries) -> None:
    agent = make_agent()
    for _ in range(30):
        make_run(agent=agent)
    admin_client.get(reverse("agents_admin:home"))  # fills the menu's saved views cache (cold: one query more)
    # The count of matches is one more query, bounded (it reads at most COUNT_EXACT_LIMIT + 1 index entries).
    with django_assert_max_num_queries(7):
        response = admin_client.get(reverse("agents_admin:thread_list"))
    assert len(response.context["page"].threads) == 25


def _row(body: str, thread: Thread) -> str:
    """The table row of ``thread`` in a thread list page."""
    start = body.index(f'<code class="thread-id">{thread.id}</code>')
    return body[body.rindex("<tr>", 0, start) : body.index("</tr>", start)]


def test_each_row_shows_its_threads_flags_as_badges(admin_client: Client) -> None:
    flagged, plain = make_thread(), make_thread()
    thread_flag_set(thread=flagged, name=ThreadFlag.NEEDS_FOLLOW_UP, on=True, actor=None)
    thread_flag_set(thread=flagged, name="vip-customer", on=True, actor=None)
    for body in (
        admin_client.get(reverse("agents_admin:thread_list")).content.decode(),
        admin_client.get(reverse("agents_admin:thread_list"), **HX).content.decode(),
    ):
        row = _row(body, flagged)
        assert '<a class="tag" href="/threads/?flag=needs-follow-up"' in row and ">vip-customer</a>" in row
        assert 'class="tag"' not in _row(body, plain)


@pytest.mark.parametrize(
    ("flag", "inline_limit"),
    # A standard flag reads its Thread column; a free tag its ids inline (a rare tag) or a probe per row (a common one).
    [(ThreadFlag.ESCALATED, 2_000), ("vip-customer", 2_000), ("vip-customer", 1)],
    ids=["standard-flag", "tag-by-ids", "tag-by-probe"],
)
def test_the_flag_filter_lists_only_flagged_threads_page_by_page(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch, flag: str, inline_limit: int
) -> None:
    monkeypatch.setattr(thread_selectors, "FLAG_IDS_INLINE_LIMIT", {connection.vendor: inline_limit})
    threads = [make_thread() for _ in range(40)]
    flagged = threads[::3] + threads[1::3]  # 27 threads: more than one page
    for thread in flagged:
        thread_flag_set(thread=thread, name=flag, on=True, actor=None)
    thread_flag_set(thread=threads[2], name=ThreadFlag.REVIEWED, on=True, actor=None)
    thread_flag_set(thread=threads[3], name=flag, on=False, actor=None)  # cleared again
    flagged.remove(threads[3])
    url, params = reverse("agents_admin:thread_list"), {"flag": flag}
    seen: list[str] = []
    for _ in range(3):
        response = admin_client.get(url, params, **HX)
        page = response.context["page"]
        seen.extend(t.id for t in page.threads)
        if not page.next_cursor:
            break
        # The filter stays in the "Older" link, next to the cursor.
        assert f"flag={flag}&amp;cursor={page.next_cursor}" in response.content.decode()
        params = {"flag": flag, "cursor": page.next_cursor}
    expected = Thread.objects.filter(pk__in=[t.id for t in flagged]).order_by("-last_activity_at", "-id")
    assert seen == list(expected.values_list("id", flat=True))
    assert {t.id for t in admin_client.get(url, {"flag": " Reviewed"}).context["page"].threads} == {threads[2].id}
    assert not admin_client.get(url, {"flag": "nobody-has-this"}).context["page"].threads


def test_a_malformed_flag_filter_is_reported_not_applied(admin_client: Client) -> None:
    make_thread()
    response = admin_client.get(reverse("agents_admin:thread_list"), {"flag": "no spaces!"})
    assert response.status_code == 200 and "lower-case letters" in response.content.decode()
    assert len(response.context["page"].threads) == 1


def test_flags_cost_one_query_per_page_whatever_the_number_of_flagged_rows(
    admin_client: Client, django_assert_max_num_queries
) -> None:
    agent = make_agent()
    threads = [make_run(agent=agent).thread for _ in range(30)]
    url = reverse("agents_admin:thread_list")
    admin_client.get(reverse("agents_admin:home"))  # fills the menu's saved views cache (cold: one query more)
    with CaptureQueriesContext(connection) as unflagged:
        admin_client.get(url)
    for thread in threads:
        for name in ThreadFlag.STANDARD:
            thread_flag_set(thread=thread, name=name, on=True, actor=None)
    # (one of them: the saved views listed above the filters)
    with CaptureQueriesContext(connection) as flagged, django_assert_max_num_queries(7):
        response = admin_client.get(url)
    assert len(response.context["page"].threads) == 25
    assert response.content.decode().count(">reviewed</a>") == 25
    assert len(flagged) == len(unflagged)  # the flags of the whole page come from one query
    with django_assert_max_num_queries(
        8
    ):  # the flag filter adds one bounded read of the flagged ids (twice: the count)
        response = admin_client.get(url, {"flag": "reviewed"})
    assert len(response.context["page"].threads) == 25


# --- create ---------------------------------------------------------------------------------------------


def test_creating_a_thread_with_metadata(admin_client: Client) -> None:
    form = admin_client.get(reverse("agents_admin:thread_create"))
    partial = admin_client.get(reverse("agents_admin:thread_create"), **HX).content.decode()
    assert "<html" in form.content.decode() and "<html" not in partial and "metadata" in partial
    response = admin_client.post(reverse("agents_admin:thread_create"), {"metadata": '{"customer": "42"}'})
    thread = Thread.objects.get()
    assert response.status_code == 302 and response["Location"] == _detail(thread)
    assert thread.metadata == {"customer": "42"}


def test_bad_thread_metadata_is_shown_and_nothing_is_created(admin_client: Client) -> None:
    response = admin_client.post(reverse("agents_admin:thread_create"), {"metadata": '{"k": 1}'})
    assert response.status_code == 200
    assert "must be a string" in " ".join(response.context["form"].errors["metadata"])
    assert not Thread.objects.exists()


# --- detail and history ---------------------------------------------------------------------------------


def test_the_detail_page_shows_the_latest_page_and_loads_earlier_ones(admin_client: Client) -> None:
    thread = make_thread(metadata={"customer": "acme"})
    _add_messages(thread, 120)
    body = admin_client.get(_detail(thread)).content.decode()
    assert "<html" in body and "acme" in body and "120" in body
    assert "message number 120" in body and "message number 71<" in body and "message number 70<" not in body
    assert "?before=71" in body
    partial = admin_client.get(_detail(thread), {"before": 71}, **HX).content.decode()
    assert "<html" not in partial
    assert "message number 21<" in partial and "message number 70<" in partial and "message number 71<" not in partial
    assert "?before=21" in partial
    first = admin_client.get(_detail(thread), {"before": 21}, **HX).content.decode()
    assert "message number 1<" in first and "before=" not in first
    # Without JavaScript the same link gives a full page.
    assert "<html" in admin_client.get(_detail(thread), {"before": 71}).content.decode()


def test_user_and_assistant_messages_look_different_and_content_is_escaped(admin_client: Client) -> None:
    thread = make_thread(messages=["<script>alert('x')</script>\nsecond line"])
    make_message(thread, "I am the assistant", role="assistant")
    body = admin_client.get(_detail(thread)).content.decode()
    assert "<script>alert" not in body
    # Rendered as Markdown (raw HTML stays text); "Show raw text" gives the text as stored, escaped.
    assert "<p>&lt;script&gt;alert('x')&lt;/script&gt;\nsecond line</p>" in body
    raw = admin_client.get(_detail(thread), {"raw": "1"}).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;<br>second line" in raw
    assert body.count("msg msg-user") == 1 and body.count("msg msg-assistant") == 1


def _thread_with_runs(agent: Agent, *, runs: int, replies: int) -> Thread:
    """A thread whose runs each wrote ``replies`` messages with a tool-call step; a last message after them puts
    the runs' replies in the history, each with its run's status and steps."""
    thread = make_thread(project=agent.project, messages=["first"])
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}", "output": "sun"}}
    for _ in range(runs):
        run = make_run(thread=thread, agent=agent)
        Run.objects.filter(pk=run.pk).update(status="completed")
        RunStep.objects.create(
            run=run, thread=thread, type="tool_calls", status="completed", step_details={"tool_calls": [call]}
        )
        _add_messages(thread, replies, run=run)
    make_message(thread, "the thread moved on")
    return thread


def test_the_detail_page_costs_a_fixed_number_of_queries(
    admin_client: Client, django_assert_num_queries, settings
) -> None:
    agent = make_agent(tools=[WEATHER_TOOL])
    small = _thread_with_runs(agent, runs=1, replies=3)
    big = _thread_with_runs(agent, runs=8, replies=10)
    session = 0 if settings.SESSION_ENGINE.endswith("cached_db") else 1  # with Redis the session comes from the cache
    admin_client.get(reverse("agents_admin:home"))  # fills the menu's saved views cache (cold: one query more)
    # Session, user, thread, the audit record, runs (with their agents' and connections' names), the panel's
    # messages, the page's messages with their runs' statuses, the steps of those runs and of the panel's, the
    # comments of the messages shown, agents, flags, notes, the runs placed among the messages: the same for 5
    # messages of one run as for 50 of several. The runs are read with only the columns the page shows, so a
    # template touching another one would add a query per run here.
    for thread in (small, big):
        with django_assert_num_queries(session + 13):  # + the hold in force, for the header
            response = admin_client.get(_detail(thread))
        assert response.status_code == 200 and response.content.decode().count('<details class="msg-run">') > 0
    assert len(response.context["page"].messages) == 50
    assert len({m.run_id for m in response.context["page"].messages if m.run_id}) == 5
    # An earlier page: session, user, thread, its messages, their runs' steps, their comments, the runs placed among
    # them, the audit record.
    with django_assert_num_queries(session + 7):
        admin_client.get(_detail(big), {"before": 30}, **HX)


# --- actions --------------------------------------------------------------------------------------------


def test_adding_a_message(admin_client: Client) -> None:
    thread = make_thread()
    response = admin_client.post(reverse("agents_admin:message_add", args=[thread.id]), {"content": "Hi there"})
    assert response.status_code == 302 and response["Location"] == _detail(thread)
    assert list(thread.messages.values_list("role", "text")) == [("user", "Hi there")]


def test_an_empty_message_is_refused_beside_the_field(admin_client: Client) -> None:
    thread = make_thread()
    response = admin_client.post(reverse("agents_admin:message_add", args=[thread.id]), {"content": "   "})
    assert response.status_code == 200
    assert 'id="id_content_error"' in response.content.decode()
    assert not thread.messages.exists()


def test_service_conflicts_are_shown_next_to_the_form(admin_client: Client) -> None:
    run = make_run()
    thread = run.thread
    response = admin_client.post(reverse("agents_admin:message_add", args=[thread.id]), {"content": "more"})
    assert response.status_code == 200 and "already has an active run" in response.content.decode()
    response = admin_client.post(reverse("agents_admin:run_start", args=[thread.id]), {"agent": run.agent_id})
    assert response.status_code == 200 and "already has an active run" in response.content.decode()
    assert thread.messages.count() == 1 and thread.runs.count() == 1
    response = admin_client.post(reverse("agents_admin:run_tool_outputs", args=[thread.id, run.id]), {})
    assert response.status_code == 200 and "not waiting for tool outputs" in response.content.decode()


def test_starting_a_run_queues_it_and_the_panel_polls(admin_client: Client) -> None:
    agent = make_agent()
    thread = make_thread(messages=["Hello"])
    response = admin_client.post(reverse("agents_admin:run_start", args=[thread.id]), {"agent": agent.id})
    run = thread.runs.get()
    assert response.status_code == 302 and run.status == "queued" and run.agent == agent
    body = admin_client.get(_detail(thread)).content.decode()
    assert f'hx-get="{_panel(run)}" hx-trigger="every 1s"' in body
    partial = admin_client.get(_panel(run), **HX)
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert "badge-queued" in partial.content.decode()
    full = admin_client.get(_panel(run))
    assert full.status_code == 200 and "<html" in full.content.decode()


def test_cancelling_a_queued_run(admin_client: Client) -> None:
    run = make_run()
    response = admin_client.post(reverse("agents_admin:run_cancel", args=[run.thread_id, run.id]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"
    again = admin_client.get(_panel(run), **HX)
    assert again.status_code == 286 and "badge-cancelled" in again.content.decode()


def test_cancelling_an_ended_run_says_why(admin_client: Client) -> None:
    run = make_run()
    Run.objects.filter(pk=run.pk).update(status="completed")
    response = admin_client.post(reverse("agents_admin:run_cancel", args=[run.thread_id, run.id]))
    assert response.status_code == 200 and "cannot be cancelled" in response.content.decode()


def test_deleting_a_thread_asks_first(admin_client: Client) -> None:
    thread = make_thread(messages=["bye"])
    url = reverse("agents_admin:thread_delete", args=[thread.id])
    full = admin_client.get(url).content.decode()
    partial = admin_client.get(url, **HX).content.decode()
    assert "Delete thread" in full and "<html" in full and "<html" not in partial
    response = confirm_post(admin_client, url)
    assert response.status_code == 302 and response["Location"] == reverse("agents_admin:thread_list")
    assert not Thread.objects.filter(pk=thread.pk).exists()


def test_a_thread_with_an_active_run_is_not_deleted(admin_client: Client) -> None:
    run = make_run()
    response = confirm_post(admin_client, reverse("agents_admin:thread_delete", args=[run.thread_id]))
    assert response.status_code == 200 and "cancel it before deleting" in response.content.decode()
    assert Thread.objects.filter(pk=run.thread_id).exists()


# --- end to end with a real worker ----------------------------------------------------------------------


def _poll_until_stopped(client: Client, run: Run) -> str:
    """Poll the run panel as the browser would, until the server answers 286 (stop polling)."""

    def stopped() -> str | None:
        response = client.get(_panel(run), **HX)
        assert response.status_code in (200, 286)
        return response.content.decode() if response.status_code == 286 else None

    return wait_for(stopped, timeout=30, interval=0.2)


@pytest.mark.worker
def test_a_run_started_from_the_page_completes_and_the_panel_stops_polling(
    celery_worker: Worker, admin_client: Client
) -> None:
    agent = make_agent()
    thread = make_thread()
    admin_client.post(reverse("agents_admin:message_add", args=[thread.id]), {"content": "Hello from the console"})
    admin_client.post(reverse("agents_admin:run_start", args=[thread.id]), {"agent": agent.id})
    run = thread.runs.get()
    body = _poll_until_stopped(admin_client, run)
    run.refresh_from_db()
    assert run.status == "completed"
    assert "badge-completed" in body and "Hello from the console" in body and "offline model" in body
    # The runs list and the thread header are refreshed out of band.
    assert f'id="run-status-{run.id}" hx-swap-oob="true"' in body and 'id="thread-last-run" hx-swap-oob="true"' in body
    assert "Total tokens" in body and str(run.total_tokens) in body
    assert "hx-trigger" not in body


@pytest.mark.worker
def test_tool_outputs_submitted_from_the_page_continue_the_run(celery_worker: Worker, admin_client: Client) -> None:
    agent = make_agent(tools=[WEATHER_TOOL])
    thread = make_thread(messages=['/tool get_weather {"city": "Paris"}'])
    admin_client.post(reverse("agents_admin:run_start", args=[thread.id]), {"agent": agent.id})
    run = thread.runs.get()
    body = _poll_until_stopped(admin_client, run)
    run.refresh_from_db()
    assert run.status == "requires_action"
    [call] = run.pending_tool_calls
    assert "Submit tool outputs" in body and f'name="output_{call["id"]}"' in body and "get_weather" in body
    response = admin_client.post(
        reverse("agents_admin:run_tool_outputs", args=[thread.id, run.id]), {f"output_{call['id']}": "22C and sunny"}
    )
    assert response.status_code == 302
    body = _poll_until_stopped(admin_client, run)
    run.refresh_from_db()
    assert run.status == "completed" and "22C and sunny" in body


@pytest.mark.worker
def test_a_slow_run_streams_into_the_panel_and_can_be_cancelled(celery_worker: Worker, admin_client: Client) -> None:
    agent = make_agent()
    thread = make_thread(messages=["/slow /long please"])
    admin_client.post(reverse("agents_admin:run_start", args=[thread.id]), {"agent": agent.id})
    run = thread.runs.get()

    def streaming() -> str | None:
        body = admin_client.get(_panel(run), **HX).content.decode()
        return body if re.search(r"word\d+", body) else None

    body = wait_for(streaming, timeout=30)
    assert "msg-in_progress" in body and 'hx-trigger="every 1s"' in body
    response = admin_client.post(reverse("agents_admin:run_cancel", args=[thread.id, run.id]))
    assert response.status_code == 302
    wait_for_status(run, "cancelled")
    assert "badge-cancelled" in _poll_until_stopped(admin_client, run)


def test_a_runs_reply_shows_once_and_in_order_before_and_after_the_thread_moves_on(admin_client: Client) -> None:
    run = make_run(text="question one")
    message_create(thread=run.thread, role="assistant", content="answer one", run=run)
    Run.objects.filter(pk=run.pk).update(status="completed")
    body = admin_client.get(_detail(run.thread)).content.decode()
    assert body.count("answer one") == 1 and body.index("question one") < body.index("answer one")
    make_message(run.thread, "question two")
    body = admin_client.get(_detail(run.thread)).content.decode()
    assert body.count("answer one") == 1
    assert body.index("question one") < body.index("answer one") < body.index("question two")


def test_the_message_limit_is_explained_beside_the_form(admin_client: Client, settings) -> None:
    settings.MAX_MESSAGES_PER_THREAD = 1
    thread = make_thread(messages=["the only one"])
    response = admin_client.post(reverse("agents_admin:message_add", args=[thread.id]), {"content": "one more"})
    assert response.status_code == 200 and "reached the limit of 1 messages" in response.content.decode()
    assert thread.messages.count() == 1


@pytest.mark.worker
def test_a_failed_run_shows_its_error_in_the_panel(celery_worker: Worker, admin_client: Client) -> None:
    agent = make_agent()
    thread = make_thread(messages=["please /fail"])
    admin_client.post(reverse("agents_admin:run_start", args=[thread.id]), {"agent": agent.id})
    body = _poll_until_stopped(admin_client, thread.runs.get())
    assert "badge-failed" in body and "offline_model_failure" in body and "asked to fail" in body


def test_boosted_navigation_and_history_restore_get_the_full_page(admin_client: Client) -> None:
    thread = make_thread(messages=["hello"])
    boosted = admin_client.get(_detail(thread), HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true")
    restore = admin_client.get(_detail(thread), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    for response in (boosted, restore):
        assert "<html" in response.content.decode() and "Start a run" in response.content.decode()


def test_the_run_panel_names_the_agent_and_the_connection_the_run_went_to(admin_client: Client) -> None:
    chosen = connection_create(fields={"name": "chosen.conn", "kind": "offline", "auth": "none"})
    run = make_run(agent=make_agent(name="Refund helper", connection=chosen))
    full = admin_client.get(_detail(run.thread)).content.decode()
    partial = admin_client.get(_panel(run), **HX).content.decode()
    assert "<html" in full and "<html" not in partial
    for body in (full, partial):
        assert f"Refund helper v{run.agent_version} · {run.model} via chosen.conn" in body


def test_the_run_panel_of_a_run_whose_agent_was_deleted_shows_the_agent_reference(admin_client: Client) -> None:
    run = make_run(agent=make_agent(name="Gone soon"))
    Agent.objects.filter(pk=run.agent_id).delete()
    body = admin_client.get(_detail(run.thread)).content.decode()
    assert f"<code>{run.agent_ref}</code> v{run.agent_version}" in body and "Gone soon" not in body


def test_the_run_form_lists_the_projects_agents_by_name_and_only_they_can_be_started(admin_client: Client) -> None:
    zed = make_agent(name="Zed")
    project = zed.project
    alpha = make_agent(name="Alpha", project=project)
    unnamed = make_agent(name="", project=project)
    outsider = make_agent(name="Outsider", project=make_project("elsewhere"))
    thread = make_thread(project=project, messages=["hi"])
    body = admin_client.get(_detail(thread)).content.decode()
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', body)
    # Ordered by name (an unnamed agent, shown by its id, first), as the agent list orders them; the composer
    # and "Start a run" offer the same list.
    assert options == [(unnamed.id, unnamed.id), (alpha.id, "Alpha"), (zed.id, "Zed")] * 2
    assert outsider.id not in body
    refused = admin_client.post(reverse("agents_admin:run_start", args=[thread.id]), {"agent": outsider.id})
    assert "Select a valid choice" in refused.content.decode() and not Run.objects.filter(thread=thread).exists()


# --- what the list's rows and the conversation show -------------------------------------------------------------


def test_a_thread_row_shows_what_a_reviewer_scans_for(admin_client: Client) -> None:
    agent = make_agent(name="Billing <bot>")
    thread = make_thread(messages=["where is my refund?"], metadata={"customer": "<acme & co>", "note": "x" * 80})
    make_run(thread=thread, agent=agent)
    thread_flag_set(thread=thread, name="needs-follow-up", on=True, actor=None)
    body = admin_client.get(reverse("agents_admin:thread_list")).content.decode()
    row = body[body.index(f'<tr><td class="thread-cell"><a class="thread-title" href="/threads/{thread.id}/">') :]
    row = row[: row.index("</tr>")]
    # The title is the first user message (stored on the thread), the id beneath it.
    assert f'href="/threads/{thread.id}/">where is my refund?</a>' in row
    assert f'<code class="thread-id">{thread.id}</code>' in row
    assert '<span class="tag">customer: &lt;acme &amp; co&gt;</span>' in row
    assert '<span class="tag">note: ' + "x" * 29 + "…</span>" in row  # long values are cut in lists
    assert (
        f'<td>Billing &lt;bot&gt;<br><small class="muted">{thread.project}</small></td>' in row  # projects mix here
        and '<span class="badge badge-queued" title="queued" data-status="queued">Queued</span>' in row
    )
    assert '<a class="tag" href="/threads/?flag=needs-follow-up" title="Threads flagged needs-follow-up">' in row
    assert " ago</time></td><td>1</td>" in row  # activity, then the message count


def test_a_thread_without_runs_says_so(admin_client: Client) -> None:
    make_thread()
    body = admin_client.get(reverse("agents_admin:thread_list")).content.decode()
    assert "<td>—<br>" in body and '<span class="badge badge-none">no runs</span>' in body


def test_metadata_shows_whatever_its_keys_are_called(admin_client: Client) -> None:
    thread = make_thread(metadata={"items": "<x>", "keys": "y"})
    row = _row(admin_client.get(reverse("agents_admin:thread_list")).content.decode(), thread)
    assert '<span class="tag">items: &lt;x&gt;</span>' in row and '<span class="tag">keys: y</span>' in row
    detail = admin_client.get(_detail(thread)).content.decode()
    assert "<dt>items</dt><dd>&lt;x&gt;</dd>" in detail and "<dt>keys</dt><dd>y</dd>" in detail


def test_message_text_is_escaped_with_its_line_breaks_kept(admin_client: Client) -> None:
    thread = make_thread(messages=["<b>bold</b> & \"quoted\" 'single'\nsecond line"])
    body = admin_client.get(_detail(thread), {"raw": "1"}).content.decode()  # the text as stored
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; &#x27;single&#x27;<br>second line" in body
    assert "<b>" not in body
    assert '<article hx-disable class="msg msg-user" id="msg_' in body and "#1 · <time datetime=" in body


def test_image_parts_show_as_references_and_a_long_url_is_cut(admin_client: Client) -> None:
    thread = make_thread(messages=["look"])
    url = "https://example.com/" + "x" * 200
    content = [
        {"type": "image_url", "image_url": {"url": url}},
        {"type": "image_file", "image_file": {"file_id": "assistant-abc"}},
        {"type": "text", "text": {"value": "caption"}},
    ]
    Message.objects.filter(thread=thread).update(content=content)
    body = admin_client.get(_detail(thread)).content.decode()
    assert "[image: https://example.com/xxx" in body and url not in body and "…]" in body
    assert "[image file <code>assistant-abc</code>]" in body
    assert '<div class="msg-text md"><p>caption</p>\n</div>' in body


def test_bad_shapes_in_stored_json_render_as_nothing_instead_of_failing_the_page(admin_client: Client) -> None:
    run = make_run(text="fallback text")
    thread = run.thread
    bad_parts = ["not a part", {"type": "text", "text": "not a dict"}, {"type": "video"}]
    Message.objects.filter(thread=thread).update(content=bad_parts)
    RunStep.objects.create(run=run, thread=thread, type="tool_calls", status="failed", step_details={"tool_calls": "x"})
    response = admin_client.get(_detail(thread))
    body = response.content.decode()
    assert response.status_code == 200
    assert '<div class="msg-text md"></div>' in body and "not a part" not in body
    assert '<ul class="tool-calls"></ul>' in body
    Message.objects.filter(thread=thread).update(content={"not": "a list"})
    assert '<div class="msg-text md"><p>fallback text</p>\n</div>' in admin_client.get(_detail(thread)).content.decode()


def test_a_message_still_being_written_is_marked(admin_client: Client) -> None:
    thread = make_thread(messages=["partial"])
    Message.objects.filter(thread=thread).update(status=Message.Status.IN_PROGRESS)
    body = admin_client.get(_detail(thread)).content.decode()
    assert 'class="msg msg-user msg-in_progress"' in body and " · in_progress</span>" in body
    assert 'aria-label="still writing"' in body


def _between(body: str, start: str, end: str) -> str:
    return body[body.index(start) : body.index(end, body.index(start))]


def test_the_history_shows_each_reply_with_its_run_status_and_tool_calls(admin_client: Client) -> None:
    agent = make_agent(tools=[WEATHER_TOOL])
    run = make_run(agent=agent, text='/tool get_weather {"city": "<Paris>"}')
    run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "requires_action"
    panel = _between(admin_client.get(_detail(run.thread)).content.decode(), 'id="run-panel"', "</section>")
    assert '<ol class="steps" hx-disable>' in panel and "awaiting output" in panel
    assert "get_weather({&quot;city&quot;: &quot;&lt;Paris&gt;&quot;})" in panel
    [call] = run.pending_tool_calls
    run_submit_tool_outputs(run=run, tool_outputs=[{"tool_call_id": call["id"], "output": "<sunny>"}], actor=None)
    run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "completed"
    # While the reply is the thread's last message the live run panel shows it, without the run's details: the
    # panel shows those itself.
    body = admin_client.get(_detail(run.thread)).content.decode()
    panel = _between(body, 'id="run-panel"', "</section>")
    assert "msg-assistant" in panel and "msg-run" not in panel
    make_message(run.thread, "thanks")
    body = admin_client.get(_detail(run.thread)).content.decode()
    history = _between(body, 'id="history"', 'class="card composer"')  # the run's panel is in it, in place
    badge = '<span class="badge badge-completed" title="completed" data-status="completed">Completed</span>'
    summary = f"<summary>Run <code>{run.id}</code> {badge}</summary>"
    assert f'<details class="msg-run">{summary}' in history
    assert "Tool Calls</span>" in history and "→ <code>&lt;sunny&gt;</code>" in history
    assert "awaiting output" not in history
    assert history.count("<article ") == run.thread.messages.count() == 3


# --- the transcript: each run where it happened ------------------------------------------------------------


def _run_ended(thread: Thread, agent: Agent, status: str, **fields: object) -> Run:
    run = make_run(thread=thread, agent=agent)
    Run.objects.filter(pk=run.pk).update(status=status, **fields)
    run.refresh_from_db()
    return run


def test_runs_that_ended_without_a_reply_show_where_they_happened_with_their_error(admin_client: Client) -> None:
    agent = make_agent()
    thread = make_thread(project=agent.project, messages=["first question"])
    error = {"code": "rate_limit_exceeded", "message": "The model said <slow down>."}
    failed = _run_ended(thread, agent, "failed", last_error=error, failed_at=timezone.now())
    make_message(thread, "second question")
    cancelled = _run_ended(thread, agent, "cancelled", cancelled_at=timezone.now())
    make_message(thread, "third question")
    expired = _run_ended(thread, agent, "expired")
    make_message(thread, "fourth question")
    last = make_run(thread=thread, agent=agent)
    message_create(thread=thread, role="assistant", content="the last answer", run=last)
    Run.objects.filter(pk=last.pk).update(status="completed")
    make_message(thread, "thanks")
    body = admin_client.get(_detail(thread)).content.decode()
    order = [
        body.index("first question"),
        body.index(f'id="transcript-{failed.id}"'),
        body.index("second question"),
        body.index(f'id="transcript-{cancelled.id}"'),
        body.index("third question"),
        body.index(f'id="transcript-{expired.id}"'),
        body.index("fourth question"),
    ]
    assert order == sorted(order)
    failed_line = _between(body, f'id="transcript-{failed.id}"', "</div>")
    assert "badge-failed" in failed_line and "rate_limit_exceeded" in failed_line
    assert "The model said &lt;slow down&gt;." in failed_line
    assert "Expired: it did not finish before" in _between(body, f'id="transcript-{expired.id}"', "</div>")
    assert "badge-cancelled" in _between(body, f'id="transcript-{cancelled.id}"', "</div>")
    # The latest run's panel is not pinned under the newer message: it sits after the message its run answered.
    assert body.index("fourth question") < body.index('id="run-panel"') < body.index("the last answer")
    assert body.index("the last answer") < body.index("thanks")


def test_the_run_panel_sits_after_the_message_it_answered_and_its_replies_follow(admin_client: Client) -> None:
    run = make_run(text="question one")
    message_create(thread=run.thread, role="assistant", content="answer one", run=run)
    Run.objects.filter(pk=run.pk).update(status="completed")
    make_message(run.thread, "question two")
    body = admin_client.get(_detail(run.thread)).content.decode()
    assert body.index("question one") < body.index('id="run-panel"') < body.index("answer one")
    assert body.index("answer one") < body.index("question two")
    assert body.count("answer one") == 1


def test_an_earlier_page_places_its_own_runs_only(admin_client: Client) -> None:
    agent = make_agent()
    thread = make_thread(project=agent.project, messages=["oldest"])
    early = _run_ended(thread, agent, "failed", last_error={"code": "server_error", "message": "early"})
    _add_messages(thread, 60)
    late = _run_ended(thread, agent, "failed", last_error={"code": "server_error", "message": "late"})
    make_message(thread, "newest")
    latest = admin_client.get(_detail(thread)).content.decode()
    assert f"transcript-{early.id}" not in latest and 'id="run-panel"' in latest  # the latest run: its panel
    first_page = thread.messages.order_by("seq")[50].seq
    earlier = admin_client.get(_detail(thread), {"before": first_page}, **HX).content.decode()
    assert f"transcript-{early.id}" in earlier and f"transcript-{late.id}" not in earlier
    assert earlier.index("oldest") < earlier.index(f"transcript-{early.id}") < earlier.index("message number 2<")
