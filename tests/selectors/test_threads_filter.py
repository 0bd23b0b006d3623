"""The one thread filter: a query string selects the same threads on /threads/, on /search/ and in exports."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents_admin.forms.threads import ThreadFilterForm
from agents_admin.models import ExportJob, Thread, ThreadHold
from agents_admin.selectors.threads import HAS_FAILED_RUN, ThreadFilters
from agents_admin.services import exports
from agents_admin.services.review import thread_flag_set, thread_note_add
from tests.factories import make_agent, make_project, make_thread

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _thread(name: str, **fields: Any) -> Thread:
    """A thread with one message that matches every filter below, but for what ``fields`` says."""
    agent = fields.pop("agent")
    thread = make_thread(
        project=fields.pop("project", None), messages=[f"{name} says hello"], metadata=fields.pop("metadata", {})
    )
    Thread.objects.filter(pk=thread.pk).update(
        last_agent=agent,
        last_activity_at=fields.pop("last_activity_at", timezone.now()),
        has_failed_run=fields.pop("has_failed_run", True),
        last_run_status="failed",
    )
    if fields.pop("flag", True):
        thread_flag_set(thread=thread, name="vip", on=True, actor=None)
    if fields.pop("note", True):
        thread_note_add(thread=thread, author=None, body="called back")
    if fields.pop("hold", True):
        ThreadHold.objects.create(thread=thread, reason="litigation")
    assert not fields, fields
    return thread


@pytest.fixture
def threads() -> dict[str, str]:
    """Thread ids by name: one that every filter keeps, and one that each filter alone drops."""
    agent, other_agent = make_agent(), make_agent(name="Other")
    made = {
        "wanted": _thread("wanted", agent=agent, metadata={"customer": "acme"}),
        "other-project": _thread(
            "other-project", agent=agent, project=make_project("other"), metadata={"customer": "acme"}
        ),
        "other-agent": _thread("other-agent", agent=other_agent, metadata={"customer": "acme"}),
        "inactive": _thread(
            "inactive", agent=agent, metadata={"customer": "acme"}, last_activity_at=datetime(2024, 1, 10, tzinfo=UTC)
        ),
        "never-failed": _thread("never-failed", agent=agent, metadata={"customer": "acme"}, has_failed_run=False),
        "other-customer": _thread("other-customer", agent=agent, metadata={"customer": "globex"}),
        "unflagged": _thread("unflagged", agent=agent, metadata={"customer": "acme"}, flag=False),
        "no-notes": _thread("no-notes", agent=agent, metadata={"customer": "acme"}, note=False),
        "not-held": _thread("not-held", agent=agent, metadata={"customer": "acme"}, hold=False),
    }
    return {name: thread.id for name, thread in made.items()} | {"agent": agent.id}


def _query(threads: dict[str, str]) -> dict[str, str]:
    return {
        "project": "default",
        "agent": threads["agent"],
        "date_from": (TODAY - timedelta(days=1)).isoformat(),
        "date_to": TODAY.isoformat(),
        "run_status": HAS_FAILED_RUN,
        "meta": "customer=acme",
        "flag": "vip",
        "has_notes": "on",
        "on_hold": "on",
    }


def _everywhere(client: Client, user: User, query: dict[str, str]) -> list[set[str]]:
    """The thread ids that /threads/, /search/ (no words), a streamed export and an export job give for ``query``."""
    listed = {t.id for t in client.get(reverse("agents_admin:thread_list"), query).context["page"].threads}
    searched = {t.id for t in client.get(reverse("agents_admin:search"), query).context["threads"].threads}
    response = client.get(reverse("agents_admin:threads_export"), {**query, "format": "jsonl"})
    streamed = {json.loads(line)["thread_id"] for line in b"".join(response.streaming_content).decode().splitlines()}
    job = exports.export_job_create(actor=user, fmt="jsonl", filters=ThreadFilterForm(data=query).filters())
    stored = ExportJob.objects.get(pk=job.pk)  # what a worker reads back
    in_job = {
        thread_id for opened, _ in exports.filtered_message_batches(exports.job_filters(stored)) for thread_id in opened
    }
    return [listed, searched, streamed, in_job]


def test_one_query_string_gives_the_same_threads_on_the_list_on_search_and_in_exports(
    admin_client: Client, admin_user: User, threads: dict[str, str], settings: Any
) -> None:
    # Nine export jobs stay queued here (no worker): lift the per-person caps, which are not under test.
    settings.EXPORT_MAX_ACTIVE = settings.EXPORT_MAX_ACTIVE_PER_USER = settings.EXPORT_MAX_PER_USER_PER_HOUR = 100
    query = _query(threads)
    assert _everywhere(admin_client, admin_user, query) == [{threads["wanted"]}] * 4
    # Each filter alone keeps every thread but the one made to fail it, in all four places.
    for name, dropped in [
        ("project", "other-project"),
        ("agent", "other-agent"),
        ("date_from", "inactive"),
        ("run_status", "never-failed"),
        ("meta", "other-customer"),
        ("flag", "unflagged"),
        ("has_notes", "no-notes"),
        ("on_hold", "not-held"),
    ]:
        kept = {thread_id for key, thread_id in threads.items() if key not in ("agent", dropped)}
        assert _everywhere(admin_client, admin_user, {name: query[name]}) == [kept] * 4, name


def test_the_filters_read_back_from_their_parameters_and_bad_ones_are_reported_and_left_out() -> None:
    filters = ThreadFilters(
        project="support",
        agent="asst_1",
        date_from=date(2024, 1, 1),
        date_to=date(2024, 1, 31),
        run_status=HAS_FAILED_RUN,
        metadata_key="customer",
        metadata_value="acme=1",
        flag="vip",
        has_notes=True,
        on_hold=True,
    )
    assert ThreadFilters.from_params(filters.to_params()) == (filters, {})
    parsed, errors = ThreadFilters.from_params(
        {"date_from": "2024-02-01", "date_to": "2024-01-01", "meta": "no pair", "flag": "Not A Flag", "agent": "a"}
    )
    assert parsed == ThreadFilters(agent="a", date_from=date(2024, 2, 1))
    assert set(errors) == {"date_to", "meta", "flag"}
    assert ThreadFilters.from_params({"flag": " Escalated ", "has_notes": "false"})[0] == ThreadFilters(
        flag="escalated"
    )
