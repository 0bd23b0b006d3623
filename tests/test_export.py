"""Exports: one thread (JSON Lines, CSV, Markdown) or filtered threads, streamed; big ones as a worker job."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.models import ExportJob, Message, Thread
from agents_admin.selectors_search import ThreadFilters
from agents_admin.services import exports
from agents_admin.services.review import thread_flag_set
from tests.conftest import wait_for
from tests.factories import make_thread

TRICKY = [
    "Plain hello",
    'Quotes "inside", commas, and\nnew lines\r\nand tabs\t.',
    "Ünïcödé ✓ — 日本語",
    "=SUM(A1:A9) looks like a formula",
    "<script>alert(1)</script>",
]


def streamed(response: Any) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def db_messages(*threads: Thread) -> list[tuple[str, str, int, str, str]]:
    rows = Message.objects.filter(thread__in=threads).order_by("thread_id", "seq")
    return [(m.thread_id, m.id, m.seq, m.role, m.text) for m in rows]


def from_jsonl(text: str) -> list[tuple[str, str, int, str, str]]:
    items = [json.loads(line) for line in text.splitlines() if line]
    return [(i["thread_id"], i["id"], i["seq"], i["role"], i["text"]) for i in items]


def from_csv(text: str) -> list[tuple[str, str, int, str, str]]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    result = []
    for row in rows:
        value = row["text"]
        if value.startswith("'") and value[1:].startswith(exports.CSV_FORMULA_START):
            value = value[1:]  # the apostrophe that keeps spreadsheets from running formulas
        result.append((row["thread_id"], row["message_id"], int(row["seq"]), row["role"], value))
    return result


@pytest.mark.django_db
def test_a_thread_exported_as_json_lines_parses_back_to_the_same_messages(admin_client: Client) -> None:
    thread = make_thread(messages=TRICKY)
    response = admin_client.get(reverse("agents_admin:thread_export", args=[thread.id]), {"format": "jsonl"})
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert f'filename="{thread.id}.jsonl"' in response["Content-Disposition"]
    assert from_jsonl(streamed(response)) == db_messages(thread)


@pytest.mark.django_db
def test_a_thread_exported_as_csv_parses_back_to_the_same_messages(admin_client: Client) -> None:
    thread = make_thread(messages=TRICKY)
    text = streamed(admin_client.get(reverse("agents_admin:thread_export", args=[thread.id]), {"format": "csv"}))
    assert "'=SUM(A1:A9)" in text  # neutralised for spreadsheets
    assert from_csv(text) == db_messages(thread)


@pytest.mark.django_db
def test_a_thread_exported_as_markdown_holds_every_message_in_order(admin_client: Client) -> None:
    thread = make_thread(messages=TRICKY, metadata={"customer": "acme"})
    text = streamed(admin_client.get(reverse("agents_admin:thread_export", args=[thread.id]), {"format": "md"}))
    assert text.startswith(f"# Thread {thread.id}")
    positions = [text.index(body) for body in TRICKY]
    assert positions == sorted(positions)
    assert '"customer": "acme"' in text


@pytest.mark.django_db
def test_an_unknown_format_is_refused(admin_client: Client) -> None:
    thread = make_thread(messages=["x"])
    response = admin_client.get(reverse("agents_admin:thread_export", args=[thread.id]), {"format": "xml"})
    assert response.status_code == 400
    response = admin_client.get(reverse("agents_admin:threads_export"), {"format": "md"})
    assert response.status_code == 400 and "JSON Lines or CSV" in response.content.decode()


@pytest.mark.django_db
def test_keyset_batches_cover_every_message_of_every_matching_thread_once() -> None:
    threads = [make_thread(messages=[f"t{i} m{j}" for j in range(i + 1)], metadata={"k": "v"}) for i in range(5)]
    make_thread(messages=["not exported"], metadata={"k": "other"})
    filters = ThreadFilters(metadata_key="k", metadata_value="v")
    batches = list(exports.filtered_message_batches(filters, batch_size=2, thread_batch=2))
    assert max(len(b) for b in batches) == 2
    rows = [(r["thread_id"], r["id"], r["seq"], r["role"], r["text"]) for b in batches for r in b]
    assert rows == db_messages(*threads)


@pytest.mark.django_db
def test_filtered_threads_export_as_json_lines_and_csv_round_trip(admin_client: Client) -> None:
    flagged = [make_thread(messages=TRICKY[:3]) for _ in range(3)]
    for thread in flagged:
        thread_flag_set(thread=thread, name="escalated", on=True, user=None)
    make_thread(messages=["other"])
    url = reverse("agents_admin:threads_export")
    jsonl = streamed(admin_client.get(url, {"flag": "escalated", "format": "jsonl"}))
    assert from_jsonl(jsonl) == db_messages(*flagged)
    assert from_csv(streamed(admin_client.get(url, {"flag": "escalated", "format": "csv"}))) == db_messages(*flagged)


@pytest.mark.django_db
def test_a_big_export_offers_a_background_job_instead_of_streaming(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "EXPORT_INLINE_LIMIT", 3)
    thread = make_thread(messages=["a", "b", "c", "d"])
    response = admin_client.get(reverse("agents_admin:thread_export", args=[thread.id]), {"format": "jsonl"})
    assert not response.streaming
    body = response.content.decode()
    assert "about 4 messages" in body and f'value="{thread.id}"' in body
    response = admin_client.get(reverse("agents_admin:threads_export"), {"format": "csv", "meta": ""})
    assert "Start the export" in response.content.decode()
    assert not ExportJob.objects.exists()  # GET never starts one


@pytest.mark.django_db
def test_an_export_job_runs_once_even_if_its_task_is_delivered_twice(admin_user: User) -> None:
    thread = make_thread(messages=TRICKY)
    job = exports.export_job_create(user=admin_user, fmt="jsonl", thread=thread)
    assert exports.export_job_run(job_id=job.pk) is True
    assert exports.export_job_run(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.status == ExportJob.Status.COMPLETED and job.messages_done == len(TRICKY) and job.percent == 100
    with open(job.file_path, encoding="utf-8") as handle:
        assert from_jsonl(handle.read()) == db_messages(thread)


@pytest.mark.django_db
def test_someone_else_cannot_see_or_download_my_export(admin_user: User) -> None:
    job = exports.export_job_create(user=admin_user, fmt="jsonl", thread=make_thread(messages=["x"]))
    exports.export_job_run(job_id=job.pk)
    other = User.objects.create_user("reviewer", password="pw-12345-abc")
    client = Client()
    client.force_login(other)
    assert client.get(reverse("agents_admin:export_job", args=[job.pk])).status_code == 403
    assert client.get(reverse("agents_admin:export_download", args=[job.pk])).status_code == 403


@pytest.mark.worker
def test_a_background_export_runs_on_a_worker_and_downloads_the_same_messages(
    celery_worker: object, admin_client: Client
) -> None:
    threads = [make_thread(messages=TRICKY) for _ in range(2)]
    for thread in threads:
        thread_flag_set(thread=thread, name="reviewed", on=True, user=None)
    response = admin_client.post(
        reverse("agents_admin:export_start"), {"format": "jsonl", "query": "flag=reviewed&cursor=abc"}
    )
    job = ExportJob.objects.get()
    assert response["Location"] == reverse("agents_admin:export_job", args=[job.pk])
    assert job.messages_total == 2 * len(TRICKY)
    polling = admin_client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in polling
    wait_for(lambda: ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.COMPLETED).exists())
    done = admin_client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every' not in done and "Download" in done  # the finished region stops the polling
    assert 'hx-trigger="every' in polling or "Download" in polling
    page = admin_client.get(response["Location"]).content.decode()
    assert "<html" in page and 'value="100"' in page
    download = admin_client.get(reverse("agents_admin:export_download", args=[job.pk]))
    assert from_jsonl(b"".join(download.streaming_content).decode()) == db_messages(*threads)


@pytest.mark.django_db
def test_a_thread_export_job_of_markdown_is_allowed_but_filtered_ones_are_not(admin_user: User) -> None:
    from agents_admin.services.errors import InvalidInput

    thread = make_thread(messages=["x"])
    assert exports.export_job_create(user=admin_user, fmt="md", thread=thread).format == "md"
    with pytest.raises(InvalidInput):
        exports.export_job_create(user=admin_user, fmt="md", filters=ThreadFilters())
    assert ExportJob.objects.count() == 1
