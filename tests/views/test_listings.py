"""The thread table and search hits (agents_admin/templatetags/listings.py) on the pages that show them."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.timesince import timesince

from agents_admin.models import Run, Thread
from agents_admin.services.review import thread_flag_set
from agents_admin.templatetags.conversation import time_since
from tests.factories import make_agent, make_project, make_run, make_thread
from tests.personas import client_for, user_with_role


def test_a_thread_row_shows_what_a_reviewer_scans_for(admin_client: Client) -> None:
    agent = make_agent(name="Billing <bot>")
    thread = make_thread(messages=["where is my refund?"], metadata={"customer": "<acme & co>", "note": "x" * 80})
    make_run(thread=thread, agent=agent)
    thread_flag_set(thread=thread, name="needs-follow-up", on=True, user=None)
    body = admin_client.get(reverse("agents_admin:thread_list")).content.decode()
    row = body[body.index(f'<tr><td><a href="/threads/{thread.id}/">') :]
    row = row[: row.index("</tr>")]
    assert f"<code>{thread.id}</code>" in row
    assert '<span class="tag">customer: &lt;acme &amp; co&gt;</span>' in row
    assert '<span class="tag">note: ' + "x" * 29 + "…</span>" in row  # long values are cut in lists
    assert "<td>Billing &lt;bot&gt;</td>" in row and '<span class="badge badge-queued">queued</span>' in row
    assert '<a class="tag" href="/threads/?flag=needs-follow-up" title="Threads flagged needs-follow-up">' in row
    assert " ago</time></td><td>1</td>" in row  # activity, then the message count


def test_a_thread_without_runs_says_so(admin_client: Client) -> None:
    make_thread()
    body = admin_client.get(reverse("agents_admin:thread_list")).content.decode()
    assert "<td>—</td>" in body and '<span class="badge badge-none">no runs</span>' in body


def test_a_search_hit_links_to_the_message_in_its_thread_with_the_match_marked(admin_client: Client) -> None:
    thread = make_thread(messages=["hello", "my <b>refund</b> never came"])
    thread_flag_set(thread=thread, name="escalated", on=True, user=None)
    make_run(thread=thread, agent=make_agent(name="Billing <bot>"))
    never_ran = make_thread(messages=["a refund for the run-less thread"])
    body = admin_client.get(reverse("agents_admin:search"), {"q": "refund"}).content.decode()
    message_id = Thread.objects.get(pk=thread.pk).messages.get(seq=2).id
    assert f'<a href="/threads/{thread.id}/?around=2#{message_id}">{thread.id} · #2</a>' in body
    # The match is marked; the message's own markup is text (SQLite keeps it escaped, PostgreSQL's ts_headline
    # drops tags), never markup.
    assert "<mark>refund</mark>" in body and "<b>" not in body
    assert 'title="Threads flagged escalated">escalated</a>' in body
    assert body.count('<li class="card hit">') == 2
    # Each hit names its thread's last agent, escaped; a thread no agent ran names none.
    hit = body[body.index(f"{thread.id} · #2</a>") :]
    assert '<span class="muted">· Billing &lt;bot&gt;</span>' in hit[: hit.index("</li>")]
    other = body[body.index(f"{never_ran.id} · #1</a>") :]
    assert "· Billing" not in other[: other.index("</li>")] and 'class="muted">·' not in other[: other.index("</li>")]


def test_the_search_filters_alone_list_threads_in_the_same_table(admin_client: Client) -> None:
    flagged = make_thread(messages=["one"])
    make_thread(messages=["two"])
    thread_flag_set(thread=flagged, name="reviewed", on=True, user=None)
    body = admin_client.get(reverse("agents_admin:search"), {"flag": "reviewed"}).content.decode()
    assert body.count("<tr><td>") == 1 and f"<code>{flagged.id}</code>" in body


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
    assert '<span class="badge badge-queued">queued</span>' in row and " ago</time></td>" in row
    assert f"<td><code>{orphan_ref}</code></td>" in body


def test_the_recent_runs_table_names_agents_without_links_for_those_who_may_not_edit_them(db: None) -> None:
    run = make_run(agent=make_agent(name="Billing bot"))
    client = client_for(user_with_role("Reviewer"))
    body = client.get(reverse("agents_admin:home")).content.decode()
    assert f"/threads/{run.thread_id}/runs/{run.id}/" in body
    assert "<td>Billing bot</td>" in body and f"/agents/{run.agent_id}/" not in body


@pytest.mark.parametrize(
    "value",
    ["", "gold", "x" * 30, "x" * 31, "e\u0301" * 20, "e\u0301" * 40, "café " * 10, "🙂" * 31, "a\u0300" * 30 + "b"],
)
def test_a_metadata_value_is_shortened_exactly_as_djangos_truncator_does(value: str) -> None:
    from django.utils.text import Truncator

    from agents_admin.templatetags.listings import METADATA_VALUE_SHOWN, _shortened

    assert _shortened(value, METADATA_VALUE_SHOWN) == Truncator(value).chars(METADATA_VALUE_SHOWN)


def test_time_since_writes_what_djangos_timesince_writes_in_every_case() -> None:
    """The rows' "3 days, 4 hours ago" comes from conversation.time_since, a copy of Django's algorithm that keeps the
    translated parts: across month ends, leap days, time zones, the future and another language it must agree."""
    rng = random.Random(7)
    zones = [UTC, ZoneInfo("Europe/Paris"), ZoneInfo("Pacific/Auckland")]
    now = datetime(2028, 3, 1, 0, 30, 15, 500_000, tzinfo=UTC)
    cases = [now - timedelta(seconds=s) for s in (-90, 0, 30, 59, 60, 3599, 3600, 86_399, 86_400 * 7)]
    cases += [datetime(2028, 2, 29, 23, 59, tzinfo=UTC), datetime(2027, 2, 28, 0, 30, 16, tzinfo=UTC)]
    cases += [datetime(2027, 1, 31, 12, tzinfo=UTC), datetime(2024, 2, 29, 0, 30, 15, 600_000, tzinfo=UTC)]
    cases += [now - timedelta(seconds=rng.randrange(-86_400, 6 * 365 * 86_400)) for _ in range(4000)]
    for language in ("en-us", "de"):
        with translation.override(language):
            for value in cases:
                value = value.astimezone(rng.choice(zones))
                assert time_since(value, now) == timesince(value, now), (language, value)
    with translation.override("de"):
        assert time_since(now - timedelta(days=3, hours=4), now) == "3\xa0Tage, 4\xa0Stunden"
    assert time_since(now - timedelta(days=3, hours=4), now) == "3\xa0days, 4\xa0hours"


def test_the_since_filter_shows_nothing_for_no_date_or_a_naive_one() -> None:
    template = Template("{% load console %}[{{ a|since }}][{{ b|since }}][{{ c|since }}]")
    naive = datetime(2020, 1, 1)  # noqa: DTZ001 - naive on purpose
    hour_ago = timezone.now() - timedelta(hours=1, seconds=5)
    assert template.render(Context({"a": None, "b": naive, "c": hour_ago})) == "[][][1\xa0hour]"


def test_the_filter_forms_offer_every_agent_and_project_by_name(admin_client: Client) -> None:
    named = make_agent(name="Billing <bot>")
    unnamed = make_agent(name="")
    other = make_agent(name="Zed", project=make_project("side-desk"))
    threads = admin_client.get(reverse("agents_admin:thread_list"), {"agent": other.id}).content.decode()
    options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', threads)
    agent_options = [(value, label) for value, _selected, label in options if value.startswith("asst_")]
    assert agent_options == [(unnamed.id, unnamed.id), (named.id, "Billing &lt;bot&gt;"), (other.id, "Zed")]
    assert (other.id, " selected", "Zed") in options
    search = admin_client.get(reverse("agents_admin:search")).content.decode()
    assert f'<option value="{named.id}">Billing &lt;bot&gt; ({named.id})</option>' in search
    assert '<option value="side-desk">Side-Desk</option>' in search
