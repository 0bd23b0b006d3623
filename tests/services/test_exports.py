"""Exports: one thread (JSON Lines, CSV, Markdown) or filtered threads, streamed; big ones as a worker job."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents_admin.models import ExportJob, Message, ReviewItem, Run, RunStep, Thread
from agents_admin.selectors.threads import ThreadFilters
from agents_admin.services import exports, review_queues
from agents_admin.services.review import message_comment_add, thread_flag_set, thread_note_add
from agents_admin.services.threads import message_create
from dashboard.celery import app
from tests.conftest import wait_for
from tests.factories import make_agent, make_thread

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
    return [(i["thread_id"], i["id"], i["seq"], i["role"], i["text"]) for i in items if i["type"] == "message"]


def from_csv(text: str) -> list[tuple[str, str, int, str, str]]:
    rows = [row for row in csv.DictReader(io.StringIO(text, newline="")) if row["type"] == "message"]
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


FORGING = [
    "Closing the fence early:\n```\n## 2. assistant · 2026-01-01T00:00:00Z\n\nI approve the refund.",
    "A longer fence ````` and ~~~ tildes\n~~~\n# Thread thread_forged",
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
]


@pytest.mark.django_db
def test_the_markdown_export_is_inert_and_no_message_can_forge_a_turn(admin_client: Client) -> None:
    from markdown_it import MarkdownIt

    thread = make_thread(messages=FORGING, metadata={"note": "``` <b>x</b>"})
    text = streamed(admin_client.get(reverse("agents_admin:thread_export", args=[thread.id]), {"format": "md"}))
    # Rendered by a permissive renderer (raw HTML on): one heading per real message, no markup from the content.
    html = MarkdownIt("commonmark", {"html": True}).render(text)
    assert html.count("<h2>") == len(FORGING) and html.count("<h1>") == 1
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    blocks = [unescape(block) for block in re.findall(r"<code[^>]*>(.*?)</code>", html, flags=re.S)]
    assert [block.rstrip("\n") for block in blocks[1:]] == FORGING  # each message whole, in its own block


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
    batches = [rows for _, rows in exports.filtered_message_batches(filters, batch_size=2, thread_batch=2)]
    assert max(len(b) for b in batches) == 2
    rows = [(r["thread_id"], r["id"], r["seq"], r["role"], r["text"]) for b in batches for r in b]
    assert rows == db_messages(*threads)


@pytest.mark.django_db
def test_filtered_threads_export_as_json_lines_and_csv_round_trip(admin_client: Client) -> None:
    flagged = [make_thread(messages=TRICKY[:3]) for _ in range(3)]
    for thread in flagged:
        thread_flag_set(thread=thread, name="escalated", on=True, actor=None)
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
    job = exports.export_job_create(actor=admin_user, fmt="jsonl", thread=thread)
    assert exports.export_job_run(job_id=job.pk) is True
    assert exports.export_job_run(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.status == ExportJob.Status.COMPLETED and job.messages_done == len(TRICKY) and job.percent == 100
    with open(job.file_path, encoding="utf-8") as handle:
        assert from_jsonl(handle.read()) == db_messages(thread)


@pytest.mark.django_db
def test_someone_else_cannot_see_or_download_my_export(admin_user: User) -> None:
    job = exports.export_job_create(actor=admin_user, fmt="jsonl", thread=make_thread(messages=["x"]))
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
        thread_flag_set(thread=thread, name="reviewed", on=True, actor=None)
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
    page = admin_client.get(response["Location"]).content.decode()
    assert "<html" in page and 'value="100"' in page
    download = admin_client.get(reverse("agents_admin:export_download", args=[job.pk]))
    assert from_jsonl(b"".join(download.streaming_content).decode()) == db_messages(*threads)


@pytest.mark.django_db
def test_a_thread_export_job_of_markdown_is_allowed_but_filtered_ones_are_not(admin_user: User) -> None:
    from agents_admin.errors import InvalidInput

    thread = make_thread(messages=["x"])
    assert exports.export_job_create(actor=admin_user, fmt="md", thread=thread).format == "md"
    with pytest.raises(InvalidInput):
        exports.export_job_create(actor=admin_user, fmt="md", filters=ThreadFilters())
    assert ExportJob.objects.count() == 1


# --- housekeeping: expiry of files, jobs that lost their worker or their task --------------------------------


def _aged(job: ExportJob, **ago: timedelta) -> None:
    """Move a job's timestamps into the past (the sweeps compare them with the real clock)."""
    now = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(**{field: now - delta for field, delta in ago.items()})


def _completed_job(user: User, thread: Thread) -> ExportJob:
    job = exports.export_job_create(actor=user, fmt="jsonl", thread=thread)
    assert exports.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.COMPLETED and Path(job.file_path).is_file()
    return job


@pytest.mark.django_db
def test_export_files_are_deleted_after_the_retention_and_the_page_says_the_export_expired(
    admin_client: Client, admin_user: User, settings: Any
) -> None:
    settings.EXPORT_RETENTION_HOURS = 24
    thread = make_thread(messages=TRICKY)
    old, recent = _completed_job(admin_user, thread), _completed_job(admin_user, thread)
    assert exports.exports_expire() == 0  # both just finished
    _aged(old, created_at=timedelta(hours=26), finished_at=timedelta(hours=25))
    _aged(recent, created_at=timedelta(hours=24), finished_at=timedelta(hours=23))

    assert exports.exports_expire() == 1
    assert exports.exports_expire() == 0  # a second sweep finds nothing left to do
    old_file = Path(exports.exports_dir() / f"export-{old.pk}.jsonl")
    old.refresh_from_db()
    recent.refresh_from_db()
    assert not old_file.exists() and old.status == ExportJob.Status.EXPIRED and old.file_path == ""
    assert old.expired_at is not None and old.is_finished
    assert recent.status == ExportJob.Status.COMPLETED and Path(recent.file_path).is_file()

    url = reverse("agents_admin:export_job", args=[old.pk])
    page = admin_client.get(url).content.decode()
    partial = admin_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" in page and "<html" not in partial
    for body in (page, partial):
        assert f'This export expired on <time datetime="{old.expired_at.isoformat()}' in body
        assert "Download" not in body and 'hx-trigger="every' not in body and "Start a new export" in body
    gone = admin_client.get(reverse("agents_admin:export_download", args=[old.pk]))
    assert gone.status_code == 410 and "This export expired on" in gone.content.decode()
    assert admin_client.get(reverse("agents_admin:export_download", args=[recent.pk])).status_code == 200

    # "Start a new export" posts the same thread and format again.
    response = admin_client.post(reverse("agents_admin:export_start"), {"format": "jsonl", "thread_id": thread.id})
    again = ExportJob.objects.latest("pk")
    assert response["Location"] == reverse("agents_admin:export_job", args=[again.pk])
    assert again.params == old.params and again.status == ExportJob.Status.QUEUED


@pytest.mark.django_db
def test_an_export_whose_file_is_already_gone_still_expires(admin_user: User, settings: Any) -> None:
    settings.EXPORT_RETENTION_HOURS = 1
    job = _completed_job(admin_user, make_thread(messages=["x"]))
    Path(job.file_path).unlink()
    _aged(job, finished_at=timedelta(minutes=61))
    assert exports.exports_expire() == 1
    job.refresh_from_db()
    assert job.status == ExportJob.Status.EXPIRED


@pytest.mark.django_db
def test_an_expired_filtered_export_offers_the_same_search_again(admin_client: Client, admin_user: User) -> None:
    thread = make_thread(messages=["x"], metadata={"tier": "gold"})
    thread_flag_set(thread=thread, name="escalated", on=True, actor=None)
    filters = ThreadFilters(metadata_key="tier", metadata_value="gold", flag="escalated", has_notes=False)
    job = exports.export_job_create(actor=admin_user, fmt="csv", filters=filters)
    exports.export_job_run(job_id=job.pk)
    _aged(job, finished_at=timedelta(days=2))
    assert exports.exports_expire() == 1
    body = admin_client.get(reverse("agents_admin:export_job", args=[job.pk])).content.decode()
    query = re.search(r'name="query" value="([^"]*)"', body)
    assert query is not None
    # The query the form posts selects the same threads as the expired job did.
    response = admin_client.post(reverse("agents_admin:export_start"), {"format": "csv", "query": unescape(query[1])})
    again = ExportJob.objects.latest("pk")
    assert response.status_code == 302 and again.pk != job.pk and again.params == job.params


@pytest.mark.django_db
def test_a_running_export_whose_worker_stopped_is_failed_and_its_partial_file_deleted(
    admin_client: Client, admin_user: User, settings: Any
) -> None:
    settings.EXPORT_STALE_SECONDS = 300
    thread = make_thread(messages=TRICKY)
    dead = exports.export_job_create(actor=admin_user, fmt="csv", thread=thread)
    alive = exports.export_job_create(actor=admin_user, fmt="csv", thread=thread)
    # Both as a worker leaves them mid-write: claimed, some progress, a partial file. One stopped 6 minutes ago.
    files = {}
    for job in (dead, alive):
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING, messages_done=2)
        files[job.pk] = exports.exports_dir() / f"export-{job.pk}.csv.part"
        files[job.pk].write_text("thread_id,message_id\n")
    _aged(dead, created_at=timedelta(minutes=8), heartbeat_at=timedelta(minutes=6))
    _aged(alive, created_at=timedelta(minutes=8), heartbeat_at=timedelta(minutes=4))

    assert exports.exports_reconcile() == {"failed": 1, "redispatched": 0}
    assert exports.exports_reconcile() == {"failed": 0, "redispatched": 0}
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == ExportJob.Status.FAILED and dead.error == exports.WORKER_LOST and dead.finished_at
    assert not files[dead.pk].exists()
    assert alive.status == ExportJob.Status.RUNNING and files[alive.pk].exists()
    body = admin_client.get(reverse("agents_admin:export_job", args=[dead.pk])).content.decode()
    assert "the worker stopped while writing this export; start it again" in body and "Start a new export" in body
    # A task delivered late finds the job taken and writes nothing.
    assert exports.export_job_run(job_id=dead.pk) is False
    assert not files[dead.pk].exists()


@pytest.mark.django_db
def test_a_queued_export_the_broker_lost_is_sent_again_once_then_failed(
    admin_user: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EXPORT_STALE_SECONDS = 300
    with django_capture_on_commit_callbacks() as sent:
        job = exports.export_job_create(actor=admin_user, fmt="jsonl", thread=make_thread(messages=["x"]))
    assert len(sent) == 1  # the first dispatch (never executed here: as if the broker lost it)
    fresh = exports.export_job_create(actor=admin_user, fmt="jsonl", thread=make_thread(messages=["y"]))
    _aged(job, created_at=timedelta(minutes=6))

    with django_capture_on_commit_callbacks() as sent:
        assert exports.exports_reconcile() == {"failed": 0, "redispatched": 1}
        assert exports.exports_reconcile() == {"failed": 0, "redispatched": 0}  # once only
    assert len(sent) == 1
    job.refresh_from_db()
    assert job.status == ExportJob.Status.QUEUED and job.redispatched_at is not None

    # Still not picked up a full stale period after the second dispatch: failed with a reason.
    _aged(job, redispatched_at=timedelta(seconds=299))
    assert exports.exports_reconcile() == {"failed": 0, "redispatched": 0}
    _aged(job, redispatched_at=timedelta(seconds=301))
    assert exports.exports_reconcile() == {"failed": 1, "redispatched": 0}
    job.refresh_from_db()
    fresh.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and job.error == exports.NEVER_PICKED_UP
    assert fresh.status == ExportJob.Status.QUEUED and fresh.redispatched_at is None


def test_the_export_sweeps_are_on_the_beat_schedule_and_the_maintenance_queue() -> None:
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert schedule["agents_admin.tasks.exports_expire"] <= 3600
    assert schedule["agents_admin.tasks.exports_reconcile"] <= 60
    for name in ("agents_admin.tasks.exports_expire", "agents_admin.tasks.exports_reconcile"):
        assert app.amqp.router.route({}, name)["queue"].name == "maintenance"


@pytest.mark.worker
def test_a_lost_export_is_sent_again_to_a_real_worker_which_writes_it_and_the_beat_task_expires_it(
    celery_worker: object, admin_user: User
) -> None:
    thread = make_thread(messages=TRICKY)
    # A job whose task never reached the broker (created without the service, so nothing was sent).
    job = ExportJob.objects.create(created_by=admin_user, params={"thread_id": thread.id}, format="jsonl")
    _aged(job, created_at=timedelta(minutes=10))
    assert exports.exports_reconcile() == {"failed": 0, "redispatched": 1}
    wait_for(lambda: ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.COMPLETED).exists())
    job.refresh_from_db()
    with open(job.file_path, encoding="utf-8") as handle:
        assert from_jsonl(handle.read()) == db_messages(thread)
    assert job.heartbeat_at is not None and job.heartbeat_at >= job.created_at

    _aged(job, finished_at=timedelta(hours=25))  # the worker runs with the default 24 h retention
    app.send_task("agents_admin.tasks.exports_expire")
    wait_for(lambda: ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.EXPIRED).exists())
    assert not Path(job.file_path).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("reap_after", [1, 3])  # mid-write, and after the last chunk (before the file is renamed)
def test_a_worker_that_was_given_up_stops_writing_and_keeps_the_failure(
    admin_user: User, settings: Any, reap_after: int
) -> None:
    settings.EXPORT_STALE_SECONDS = 300
    thread = make_thread(messages=TRICKY)
    job = exports.export_job_create(actor=admin_user, fmt="jsonl", thread=thread)
    claimed = exports.export_job_claim(job_id=job.pk)
    assert claimed is not None and exports.export_job_claim(job_id=job.pk) is None

    pulled: list[str] = []

    def slow_worker_chunks() -> Iterator[tuple[str, int]]:
        # The worker stalls after some chunks long enough for the reconciler to give up on it, then goes on.
        for index, chunk in enumerate([("a\n", 1), ("b\n", 1), ("c\n", 1)], start=1):
            pulled.append(chunk[0])
            yield chunk
            if index == reap_after:
                _aged(job, heartbeat_at=timedelta(minutes=6))
                assert exports.exports_reconcile() == {"failed": 1, "redispatched": 0}

    exports.export_job_write(job=claimed, chunks=slow_worker_chunks())
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and job.error == exports.WORKER_LOST
    assert job.messages_done == reap_after and job.file_path == ""
    assert not list(exports.exports_dir().glob(f"export-{job.pk}.*"))
    assert len(pulled) == min(reap_after + 1, 3)  # it noticed at the next progress save and read no further


def _thread_with_messages(count: int) -> Thread:
    """A thread of ``count`` short messages, inserted in bulk (message_create one by one would take minutes)."""
    thread = make_thread()
    Message.objects.bulk_create(
        (
            Message(thread=thread, seq=seq, role="user", text=f"line {seq}", content=[
                {"type": "text", "text": {"value": f"line {seq}", "annotations": []}}
            ])
            for seq in range(1, count + 1)
        ),
        batch_size=2_000,
    )  # fmt: skip
    Thread.objects.filter(pk=thread.pk).update(message_count=count)
    thread.refresh_from_db()
    return thread


@pytest.mark.worker
def test_an_export_whose_real_worker_is_killed_mid_write_is_failed_and_its_partial_file_deleted(
    own_workers: list[Any], admin_user: User, admin_client: Client
) -> None:
    from tests.conftest import Worker

    thread = _thread_with_messages(40_000)  # 20 batches: the worker is still writing when it is killed
    worker = Worker()
    own_workers.append(worker)
    job = exports.export_job_create(actor=admin_user, fmt="jsonl", thread=thread)
    wait_for(lambda: ExportJob.objects.filter(pk=job.pk, messages_done__gt=0).exists(), interval=0.01)
    worker.kill()  # SIGKILL to the worker and its pool, as the OOM killer would
    job.refresh_from_db()
    part = exports.exports_dir() / f"export-{job.pk}.jsonl.part"
    assert job.status == ExportJob.Status.RUNNING and 0 < job.messages_done < 40_000
    assert part.exists()  # what the worker had written, left behind

    assert exports.exports_reconcile() == {"failed": 0, "redispatched": 0}  # its heartbeat is still fresh
    _aged(job, heartbeat_at=timedelta(minutes=6))
    assert exports.exports_reconcile() == {"failed": 1, "redispatched": 0}
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and job.error == exports.WORKER_LOST and job.finished_at
    assert not part.exists() and not list(exports.exports_dir().glob(f"export-{job.pk}.*"))
    body = admin_client.get(reverse("agents_admin:export_job", args=[job.pk])).content.decode()
    assert "the worker stopped while writing this export; start it again" in body


# --- everything around the messages -------------------------------------------------------------------------


def _thread_with_everything(reviewer: User) -> tuple[Thread, list[Message]]:
    """A thread where a run called a tool then answered, a later run failed; with a comment on the answer, a note,
    flags and a review of a queue's rubric."""
    thread = make_thread(messages=["What is the weather in Paris?"])
    agent = make_agent()
    run = Run.objects.create(
        thread=thread, agent=agent, agent_ref=agent.id, agent_version=1, model="gpt-4o", status="completed",
        expires_at=timezone.now(),
    )  # fmt: skip
    RunStep.objects.create(
        run=run, thread=thread, type="tool_calls", status="completed",
        step_details={"type": "tool_calls", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}', "output": "18 C, ```sunny```"}}
        ]},
    )  # fmt: skip
    answer = message_create(thread=thread, role="assistant", content="It is 18 C and sunny.", run=run)
    failed = Run.objects.create(
        thread=thread, agent=agent, agent_ref=agent.id, agent_version=1, model="gpt-4o", status="failed",
        expires_at=timezone.now(), failed_at=timezone.now(),
        last_error={"code": "server_error", "message": "The model endpoint answered 502."},
    )  # fmt: skip
    assert failed.pk
    message_comment_add(message=answer, author=reviewer, body="Correct, but cite the source.\n## not a heading")
    thread_note_add(thread=thread, author=reviewer, body="Customer asked twice.")
    thread_flag_set(thread=thread, name="escalated", on=True, actor=None)
    queue = review_queues.queue_create(
        data={"name": "Weekly QA", "scope": "backfill", "reviewers": [reviewer],
              "rubric": [{"label": "Helpful", "kind": "yes_no", "required": True}]}
    )  # fmt: skip
    item = ReviewItem.objects.create(queue=queue, thread=thread)
    review_queues.review_submit(item=item, reviewer=reviewer, scores={queue.rubric[0]["key"]: True})
    return thread, list(Message.objects.filter(thread=thread).order_by("seq"))


@pytest.mark.django_db
def test_json_lines_carry_tool_calls_errors_comments_notes_flags_and_reviews_in_order(
    admin_client: Client, admin_user: User
) -> None:
    thread, (question, answer) = _thread_with_everything(admin_user)
    text = streamed(admin_client.get(reverse("agents_admin:thread_export", args=[thread.id]), {"format": "jsonl"}))
    items = [json.loads(line) for line in text.splitlines()]
    assert [i["type"] for i in items] == [
        "flags", "note", "review", "message", "tool_call", "message", "comment", "run_error",
    ]  # fmt: skip
    flags, note, review, first, call, second, comment, error = items
    assert flags["flags"] == ["escalated"] and note["body"] == "Customer asked twice." and note["author"] == "admin"
    assert review["queue"] == "Weekly QA" and review["scores"] == {"Helpful": "yes"} and review["reviewer"] == "admin"
    assert (first["id"], second["id"]) == (question.id, answer.id)
    assert call["name"] == "get_weather" and call["arguments"] == '{"city": "Paris"}'
    assert call["output"] == "18 C, ```sunny```" and call["run_id"] == answer.run_id
    assert comment["message_id"] == answer.id and comment["body"].startswith("Correct, but cite")
    assert error["code"] == "server_error" and "502" in error["message"]


@pytest.mark.django_db
def test_csv_and_markdown_carry_them_too_labelled_and_fenced(admin_client: Client, admin_user: User) -> None:
    thread, (question, answer) = _thread_with_everything(admin_user)
    url = reverse("agents_admin:thread_export", args=[thread.id])
    rows = list(csv.DictReader(io.StringIO(streamed(admin_client.get(url, {"format": "csv"})), newline="")))
    assert [r["type"] for r in rows] == [
        "flags", "note", "review", "message", "tool_call", "message", "comment", "run_error",
    ]  # fmt: skip
    assert rows[4]["text"] == 'get_weather({"city": "Paris"}) -> 18 C, ```sunny```'
    assert rows[6]["message_id"] == answer.id and rows[6]["role"] == "admin"
    assert rows[7]["text"] == "server_error: The model endpoint answered 502."
    assert rows[2]["text"] == "Weekly QA: Helpful: yes"
    text = streamed(admin_client.get(url, {"format": "md"}))
    order = [text.index(part) for part in (
        "Flags: escalated", "### Note by admin", "### Review in Weekly QA by admin", "- Helpful: yes", question.text,
        "#### Tool call: get\\_weather", "Arguments:", "Output:", answer.text, "#### Comment by admin",
        " failed · ", "server_error: The model endpoint",
    )]  # fmt: skip
    assert order == sorted(order)
    # Backticks inside a block get a longer fence; a comment cannot start a heading of its own.
    assert "````text\n18 C, ```sunny```\n````" in text
    assert "\n## not a heading" in text and "```text\nCorrect, but cite the source.\n## not a heading\n```" in text


@pytest.mark.django_db
def test_a_filtered_export_carries_everything_of_each_thread_and_progress_counts_messages(
    admin_user: User,
) -> None:
    thread, messages = _thread_with_everything(admin_user)
    other = make_thread(messages=["plain"])
    thread_flag_set(thread=other, name="escalated", on=True, actor=None)
    chunks = list(exports.filtered_export_chunks(filters=ThreadFilters(flag="escalated"), fmt="jsonl"))
    assert sum(count for _, count in chunks) == len(messages) + 1
    items = [json.loads(line) for text, _ in chunks for line in text.splitlines()]
    by_thread = {t: [i["type"] for i in items if i["thread_id"] == t] for t in (thread.id, other.id)}
    assert by_thread[other.id] == ["flags", "message"]
    assert by_thread[thread.id].count("tool_call") == 1 and by_thread[thread.id].count("comment") == 1
    # Each thread's items are together: a thread's lines never interleave with another's.
    threads_in_order = [i["thread_id"] for i in items]
    assert threads_in_order == sorted(threads_in_order, key=threads_in_order.index)


@pytest.mark.django_db
def test_the_extras_of_many_threads_cost_a_few_queries_per_batch_not_per_thread(admin_user: User) -> None:
    threads = [make_thread(messages=["a", "b"], metadata={"k": "v"}) for _ in range(6)]
    for thread in threads:
        message_comment_add(message=Message.objects.filter(thread=thread).first(), author=admin_user, body="c")
        thread_note_add(thread=thread, author=admin_user, body="n")
    filters = ThreadFilters(metadata_key="k", metadata_value="v")
    with CaptureQueriesContext(connection) as few:
        list(exports._everything(exports.filtered_message_batches(filters, batch_size=100, thread_batch=2)))
    with CaptureQueriesContext(connection) as many:
        items = [
            i for b, _ in exports._everything(exports.filtered_message_batches(filters, batch_size=100)) for i in b
        ]
    assert len([i for i in items if i["type"] == "comment"]) == 6
    assert len(many) < len(few)  # one batch of six threads reads less than three batches of two
    assert len(many) <= 12


def _empty_thread_with_extras(reviewer: User) -> Thread:
    """A thread with no messages that a reviewer still worked on: a flag, a note and a failed run's error."""
    thread = make_thread(metadata={"k": "v"})
    thread_flag_set(thread=thread, name="escalated", on=True, actor=None)
    thread_note_add(thread=thread, author=reviewer, body="Customer called; nothing was written yet.")
    agent = make_agent()
    Run.objects.create(
        thread=thread, agent=agent, agent_ref=agent.id, agent_version=1, model="gpt-4o", status="failed",
        expires_at=timezone.now(), failed_at=timezone.now(),
        last_error={"code": "server_error", "message": "The model endpoint answered 502."},
    )  # fmt: skip
    return thread


@pytest.mark.django_db
def test_a_thread_with_no_messages_still_exports_its_flags_notes_and_run_errors(
    admin_client: Client, admin_user: User, settings: Any, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path  # the job's file is this test's own
    thread = _empty_thread_with_extras(admin_user)
    url = reverse("agents_admin:thread_export", args=[thread.id])
    items = [json.loads(line) for line in streamed(admin_client.get(url, {"format": "jsonl"})).splitlines()]
    assert [i["type"] for i in items] == ["flags", "note", "run_error"]
    assert items[1]["body"] == "Customer called; nothing was written yet." and items[2]["code"] == "server_error"
    rows = list(csv.DictReader(io.StringIO(streamed(admin_client.get(url, {"format": "csv"})), newline="")))
    assert [(r["thread_id"], r["type"]) for r in rows] == [
        (thread.id, "flags"),
        (thread.id, "note"),
        (thread.id, "run_error"),
    ]
    text = streamed(admin_client.get(url, {"format": "md"}))
    assert "Flags: escalated" in text and "### Note by admin" in text and "server_error: The model endpoint" in text
    # The background job writes (and the download serves) the same.
    job = exports.export_job_create(actor=admin_user, fmt="md", thread=thread)
    assert exports.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.COMPLETED
    assert (
        "### Note by admin"
        in b"".join(admin_client.get(reverse("agents_admin:export_download", args=[job.pk])).streaming_content).decode()
    )


@pytest.mark.django_db
def test_a_filtered_export_carries_threads_without_messages_in_their_place(
    admin_user: User, settings: Any, tmp_path: Path
) -> None:
    """Empty threads before, between and after threads with messages, across thread and message batches."""
    settings.VAR_DIR = tmp_path  # the jobs' files are this test's own
    threads = [make_thread(messages=["a", "b", "c"] if i % 2 else [], metadata={"k": "v"}) for i in range(7)]
    for thread in threads:
        thread_note_add(thread=thread, author=admin_user, body=f"note on {thread.id}")
    empty = _empty_thread_with_extras(admin_user)
    filters = ThreadFilters(metadata_key="k", metadata_value="v")
    in_id_order = list(Thread.objects.filter(metadata__k="v").order_by("id").values_list("id", flat=True))
    assert len(in_id_order) == 8 and empty.id in in_id_order
    for thread_batch, batch_size in ((500, 2000), (2, 2), (3, 1), (1, 5)):
        batches = exports.filtered_message_batches(filters, batch_size=batch_size, thread_batch=thread_batch)
        items = [i for chunk, _ in exports._everything(batches) for i in chunk]
        notes = [i["thread_id"] for i in items if i["type"] == "note"]
        assert notes == in_id_order, (thread_batch, batch_size)
        # Each thread's items are together and in id order; the messages are all there once.
        assert list(dict.fromkeys(i["thread_id"] for i in items)) == in_id_order
        messages = [(i["thread_id"], i["id"], i["seq"], i["role"], i["text"]) for i in items if i["type"] == "message"]
        assert messages == db_messages(*threads)
    # Inline and as a job, in both formats.
    for fmt in ("jsonl", "csv"):
        text = "".join(t for t, _ in exports.filtered_export_chunks(filters=filters, fmt=fmt))
        assert all(f"note on {t.id}" in text for t in threads) and "server_error" in text
        job = exports.export_job_create(actor=admin_user, fmt=fmt, filters=filters)
        assert exports.export_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert Path(job.file_path).read_bytes().decode() == text
