"""The home page: counts, runs by status, and the recent-runs region that polls while runs are active."""

from __future__ import annotations

import re

from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse, set_script_prefix

from agents_admin.models import Run, Thread
from agents_admin.selectors.home import EXACT_COUNT_LIMIT
from agents_admin.services.maintenance import database_statistics_refresh
from tests.factories import make_agent, make_project, make_run, make_thread
from tests.personas import client_for, user_with_role

HX = {"HTTP_HX_REQUEST": "true"}


def test_anonymous_users_are_sent_to_sign_in(anon_client: Client) -> None:
    response = anon_client.get(reverse("agents_admin:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_home_shows_counts_and_an_empty_state(admin_client: Client) -> None:
    response = admin_client.get(reverse("agents_admin:home"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body
    assert "No runs yet" in body


def test_home_counts_agents_threads_and_runs_by_status(admin_client: Client) -> None:
    agent = make_agent()
    make_agent(name="Second")
    make_thread()
    run = make_run(agent=agent)
    response = admin_client.get(reverse("agents_admin:home"))
    assert response.context["agent_count"] == 2
    assert response.context["thread_count"] == 2
    assert dict(response.context["runs_by_status"])["queued"] == 1
    assert run.id in response.content.decode()


def test_a_big_thread_table_is_shown_as_an_estimate_from_the_statistics_without_counting(admin_client: Client) -> None:
    project = make_project()
    Thread.objects.bulk_create([Thread(project=project) for _ in range(EXACT_COUNT_LIMIT + 50)], batch_size=2000)
    if connection.vendor == "sqlite":
        database_statistics_refresh()  # what the hourly beat task does
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE agents_admin_thread")  # what autovacuum does
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("agents_admin:home"))
    assert response.context["thread_count"] == EXACT_COUNT_LIMIT + 50
    assert response.context["thread_count_estimated"] is True
    assert "≈</abbr> 10,050</span> threads" in response.content.decode()
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"] and "agents_admin_thread" in q["sql"]]


def test_recent_runs_poll_while_a_run_is_active(admin_client: Client) -> None:
    run = make_run()
    full = admin_client.get(reverse("agents_admin:home"))
    assert 'hx-trigger="every 1s"' in full.content.decode()
    partial = admin_client.get(reverse("agents_admin:home"), **HX)
    body = partial.content.decode()
    assert partial.status_code == 200
    assert "<html" not in body and run.id in body and 'hx-trigger="every 1s"' in body


def test_recent_runs_stop_polling_when_no_run_is_active(admin_client: Client) -> None:
    run = make_run()
    Run.objects.filter(pk=run.pk).update(status="completed")
    partial = admin_client.get(reverse("agents_admin:home"), **HX)
    body = partial.content.decode()
    assert partial.status_code == 286
    assert "<html" not in body and run.id in body and "hx-trigger" not in body


def test_error_pages_explain_what_happened(admin_client: Client) -> None:
    assert "Something went wrong" in render_to_string("500.html")
    assert "Not allowed" in render_to_string("403.html")
    response = admin_client.get("/no-such-page/")
    assert response.status_code == 404 and "Not found" in response.content.decode()


def test_home_costs_a_fixed_number_of_queries(admin_client: Client, django_assert_max_num_queries) -> None:
    agent = make_agent()
    for _ in range(15):
        make_run(agent=agent)
    admin_client.get(reverse("agents_admin:home"))  # fills the menu's saved views cache (cold: one query more)
    # Session, user, recent runs, agent count, the planner's row count (two reads on SQLite) and, as the table is
    # small, the count itself; the usage glance: prices, the 24 hours' hourly rollups, the active runs by status.
    with django_assert_max_num_queries(10):
        response = admin_client.get(reverse("agents_admin:home"))
    assert len(response.context["runs"]) == 10


def test_the_header_links_follow_the_script_prefix_the_console_is_mounted_under(admin_client: Client) -> None:
    # The links are reversed once per process and prefix; a console behind /console/ must not get the root's.
    at_root = admin_client.get("/").content.decode()
    assert re.search(r'<a href="/threads/"[^>]*>Threads</a>', at_root) and 'action="/jump/"' in at_root
    # As the WSGI handler sets it from SCRIPT_NAME (the test client does not).
    set_script_prefix("/console/")
    try:
        mounted = admin_client.get("/").content.decode()
    finally:
        set_script_prefix("/")
    assert re.search(r'<a href="/console/threads/"[^>]*>Threads</a>', mounted)
    assert 'action="/console/jump/"' in mounted and 'action="/console/logout/"' in mounted
    assert re.search(r'<a href="/threads/"[^>]*>Threads</a>', admin_client.get("/").content.decode())


def test_the_recent_runs_table_links_each_run_its_thread_and_agent(admin_client: Client) -> None:
    agent = make_agent(name="Billing <bot>")
    run = make_run(agent=agent)
    orphan = make_run(agent=make_agent(name="Gone"))
    orphan_ref = orphan.agent_ref
    Run.objects.filter(pk=orphan.pk).update(agent=None)  # the agent was deleted; the run keeps the id it ran
    body = admin_client.get(reverse("agents_admin:home")).content.decode()
    row = body[body.index(f'<tr><td><a href="/threads/{run.thread_id}/runs/{run.id}/">') :]
    row = row[: row.index("</tr>")]
    assert f'<td><a href="/threads/{run.thread_id}/"><code>{run.thread_id}</code></a></td>' in row
    assert f'<td><a href="/agents/{agent.id}/">Billing &lt;bot&gt;</a></td>' in row
    assert (
        '<span class="badge badge-queued" title="queued" data-status="queued">Queued</span>' in row
        and " ago</time></td>" in row
    )
    assert f"<td><code>{orphan_ref}</code></td>" in body


def test_the_recent_runs_table_names_agents_without_links_for_those_who_may_not_edit_them(db: None) -> None:
    run = make_run(agent=make_agent(name="Billing bot"))
    client = client_for(user_with_role("Reviewer"))
    body = client.get(reverse("agents_admin:home")).content.decode()
    assert f"/threads/{run.thread_id}/runs/{run.id}/" in body
    assert "<td>Billing bot</td>" in body and f"/agents/{run.agent_id}/" not in body
