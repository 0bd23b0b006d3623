"""Every read of conversation text outside the thread page is one audit record: searches (with their words and
filters) and exports (streamed inline, queued as a job, a job's file downloaded)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.models import AuditEvent, ExportJob
from agents_admin.services import exports
from tests.factories import make_thread

pytestmark = pytest.mark.django_db


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_a_search_records_its_words_and_filters(admin_client: Client, admin_user: User) -> None:
    make_thread(messages=["please refund my order"])
    response = admin_client.get(reverse("agents_admin:search"), {"q": "refund", "flag": "escalated"})
    assert response.status_code == 200
    [event] = events("search.query")
    assert event.actor == admin_user and event.after == {"q": "refund", "filters": {"flag": "escalated"}}
    admin_client.get(reverse("agents_admin:search"), {"q": "refund"}, HTTP_HX_REQUEST="true")  # its next page
    assert len(events("search.query")) == 2
    admin_client.get(reverse("agents_admin:search"), {"flag": "escalated"})  # no words: a list of threads
    assert len(events("search.query")) == 2


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "md"])
def test_an_inline_thread_export_is_recorded_before_it_streams(admin_client: Client, fmt: str) -> None:
    thread = make_thread(messages=["secret plan"])
    response = admin_client.get(reverse("agents_admin:thread_export", args=[thread.id]), {"format": fmt})
    assert response.status_code == 200
    [event] = events("export.inline")
    assert (event.object_type, event.object_id, event.after) == (
        "thread",
        thread.id,
        {"format": fmt, "thread": thread.id},
    )
    assert event.project_id == thread.project_id


def test_an_inline_export_of_many_threads_records_its_filters(admin_client: Client) -> None:
    make_thread(messages=["a"], metadata={"customer": "acme"})
    response = admin_client.get(reverse("agents_admin:threads_export"), {"format": "csv", "meta": "customer=acme"})
    assert response.status_code == 200
    [event] = events("export.inline")
    assert event.object_type == "threads" and event.after["filters"] == {"meta": "customer=acme"}
    assert event.after["format"] == "csv" and event.after["estimate"] == 1


def test_an_export_refused_for_a_bad_format_records_nothing(admin_client: Client) -> None:
    thread = make_thread(messages=["a"])
    response = admin_client.get(reverse("agents_admin:thread_export", args=[thread.id]), {"format": "exe"})
    assert response.status_code == 400 and not AuditEvent.objects.filter(action__startswith="export.").exists()


def test_a_background_export_is_recorded_when_queued_and_at_each_download(
    admin_client: Client, admin_user: User
) -> None:
    thread = make_thread(messages=["a", "b"])
    response = admin_client.post(reverse("agents_admin:export_start"), {"format": "jsonl", "thread_id": thread.id})
    job = ExportJob.objects.get()
    assert response.status_code == 302
    [created] = events("export.create")
    assert (created.actor, created.object_type, created.object_id) == (admin_user, "export", str(job.pk))
    assert created.after == {"format": "jsonl", "thread_id": thread.id, "estimate": 2}
    exports.export_job_run(job_id=job.pk)
    download = reverse("agents_admin:export_download", args=[job.pk])
    assert admin_client.get(download).status_code == 200
    assert admin_client.get(download).status_code == 200
    downloads = events("export.download")
    assert len(downloads) == 2 and all(e.object_id == str(job.pk) and e.actor == admin_user for e in downloads)
    assert len(events("export.create")) == 1
