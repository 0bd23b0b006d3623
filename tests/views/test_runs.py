"""The "Needs action" inbox: runs waiting on tool outputs across threads, newest first, keyset-paginated."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.models import Run
from agents_admin.selectors import runs as run_selectors
from agents_admin.services.runs import run_execute
from tests.factories import WEATHER_TOOL, make_agent, make_run

pytestmark = pytest.mark.django_db
URL = "/runs/needs-action/"


def waiting_runs(count: int) -> list[Run]:
    """Runs paused on a tool call by the offline model, oldest first."""
    agent = make_agent(tools=[WEATHER_TOOL])
    runs = []
    for _ in range(count):
        run = make_run(agent=agent, text="/tool")
        run_execute(run_id=run.id)
        run.refresh_from_db()
        assert run.status == "requires_action"
        runs.append(run)
    return runs


def test_it_lists_waiting_runs_newest_first_with_links_to_their_threads(admin_client: Client) -> None:
    older, newer = waiting_runs(2)
    done = make_run(text="just answer")
    run_execute(run_id=done.id)
    response = admin_client.get(reverse("agents_admin:needs_action"))
    html = response.content.decode()
    assert reverse("agents_admin:needs_action") == URL
    assert response.status_code == 200 and "<html" in html
    assert html.index(newer.id) < html.index(older.id)
    assert f'href="/threads/{newer.thread_id}/"' in html
    assert "get_weather" in html
    assert done.id not in html
    assert f'href="{URL}"' in html  # the nav line


def test_it_says_so_when_nothing_waits(admin_client: Client) -> None:
    assert "No run is waiting for tool outputs." in admin_client.get(URL).content.decode()


def test_pages_follow_a_cursor_and_htmx_gets_only_the_rows(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_selectors, "NEEDS_ACTION_PER_PAGE", 2)
    first, second, third = waiting_runs(3)
    page_one = admin_client.get(URL).content.decode()
    assert third.id in page_one and second.id in page_one and first.id not in page_one
    assert f'href="?before={second.id}"' in page_one and f'hx-get="?before={second.id}"' in page_one
    partial = admin_client.get(URL, {"before": second.id}, HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in html
    assert first.id in html and second.id not in html and third.id not in html
    assert "?before=" not in html


def test_a_page_costs_a_fixed_number_of_queries(admin_client: Client, django_assert_max_num_queries) -> None:
    waiting_runs(3)
    last = Run.objects.order_by("created_at").first()
    with django_assert_max_num_queries(5):  # session, user, cursor row, page (+ savepoint slack)
        admin_client.get(URL, {"before": last.id})
    with django_assert_max_num_queries(4):
        admin_client.get(URL)


def test_signed_out_visitors_are_sent_to_sign_in(anon_client: Client) -> None:
    response = anon_client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_people_who_cannot_operate_runs_are_refused(db: None) -> None:
    client = Client()
    client.force_login(User.objects.create_user("reader", password="reader-pass-123"))
    assert client.get(URL).status_code == 403
