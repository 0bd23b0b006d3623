"""Exports of threads as JSON Lines, CSV or Markdown: streamed in keyset batches, never whole in memory.

Small exports stream straight into the HTTP response; big ones (more than EXPORT_INLINE_LIMIT messages by the
threads' denormalised message counts) become an ExportJob that a worker writes to a file under
VAR_DIR/exports while the console polls its progress.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from agents_admin.models import ExportJob, Message, Thread
from agents_admin.selectors_search import ThreadFilters, threads_filtered_qs
from agents_admin.services.errors import InvalidInput
from agents_admin.services.review import user_or_none
from dashboard.celery import app

logger = logging.getLogger(__name__)

EXPORT_JOB_TASK = "agents_admin.tasks.export_job_run"
# Above this many messages an export is a background job rather than a streamed response.
EXPORT_INLINE_LIMIT: int = settings.EXPORT_INLINE_LIMIT
MESSAGE_BATCH = 2_000
THREAD_BATCH = 500
FIELDS = (
    "thread_id",
    "id",
    "seq",
    "role",
    "created_at",
    "status",
    "agent_id",
    "run_id",
    "text",
    "content",
    "metadata",
)
CSV_FIELDS = ("thread_id", "message_id", "seq", "role", "created_at", "status", "agent_id", "run_id", "text")
# Spreadsheets run a cell that starts with one of these as a formula; such cells get a leading apostrophe.
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS_FOR_FILTERS = (ExportJob.Format.JSONL, ExportJob.Format.CSV)


def exports_dir() -> Path:
    path = Path(settings.VAR_DIR) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- sources: keyset batches of message rows ----------------------------------------------------------------


def _batches(qs: Any, *, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    """Rows of ``qs`` (messages of some threads) in (thread_id, seq) order, ``batch_size`` per query."""
    after: tuple[str, int] | None = None
    while True:
        page = qs
        if after is not None:
            page = page.filter(Q(thread_id__gt=after[0]) | Q(thread_id=after[0], seq__gt=after[1]))
        rows = list(page.order_by("thread_id", "seq").values(*FIELDS)[:batch_size])
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        after = (rows[-1]["thread_id"], rows[-1]["seq"])


def thread_message_batches(thread_id: str, *, batch_size: int = MESSAGE_BATCH) -> Iterator[list[dict[str, Any]]]:
    return _batches(Message.objects.filter(thread_id=thread_id), batch_size=batch_size)


def filtered_message_batches(
    filters: ThreadFilters, *, batch_size: int = MESSAGE_BATCH, thread_batch: int = THREAD_BATCH
) -> Iterator[list[dict[str, Any]]]:
    """Messages of every thread matching ``filters``, threads in id order, a bounded batch of threads at a time."""
    last_id = ""
    while True:
        ids = list(
            threads_filtered_qs(filters)
            .filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[:thread_batch]
        )
        if not ids:
            return
        yield from _batches(Message.objects.filter(thread_id__in=ids), batch_size=batch_size)
        last_id = ids[-1]


# --- formats --------------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _jsonl(batches: Iterator[list[dict[str, Any]]]) -> Iterator[tuple[str, int]]:
    for rows in batches:
        lines = []
        for row in rows:
            item = {
                "thread_id": row["thread_id"],
                "id": row["id"],
                "seq": row["seq"],
                "role": row["role"],
                "created_at": _iso(row["created_at"]),
                "status": row["status"],
                "agent_id": row["agent_id"],
                "run_id": row["run_id"],
                "text": row["text"],
                "content": row["content"],
                "metadata": row["metadata"],
            }
            lines.append(json.dumps(item, ensure_ascii=False) + "\n")
        yield "".join(lines), len(rows)


def csv_cell(value: str) -> str:
    return "'" + value if value.startswith(CSV_FORMULA_START) else value


def _csv(batches: Iterator[list[dict[str, Any]]]) -> Iterator[tuple[str, int]]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    yield buffer.getvalue(), 0
    for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            writer.writerow(
                [
                    row["thread_id"],
                    row["id"],
                    row["seq"],
                    row["role"],
                    _iso(row["created_at"]),
                    row["status"],
                    row["agent_id"] or "",
                    row["run_id"] or "",
                    csv_cell(row["text"]),
                ]
            )
        yield buffer.getvalue(), len(rows)


def _markdown(thread: Thread, batches: Iterator[list[dict[str, Any]]]) -> Iterator[tuple[str, int]]:
    header = f"# Thread {thread.id}\n\n- Created: {_iso(thread.created_at)}\n- Messages: {thread.message_count}\n"
    if thread.metadata:
        header += f"- Metadata: `{json.dumps(thread.metadata, ensure_ascii=False)}`\n"
    yield header + "\n", 0
    for rows in batches:
        parts = [
            f"## {row['seq']}. {row['role']} · {_iso(row['created_at'])}\n\n<!-- {row['id']} -->\n\n{row['text']}\n\n"
            for row in rows
        ]
        yield "".join(parts), len(rows)


def thread_export_chunks(*, thread: Thread, fmt: str) -> Iterator[tuple[str, int]]:
    """(text, messages in it) chunks of one thread's export."""
    batches = thread_message_batches(thread.id)
    if fmt == ExportJob.Format.JSONL:
        return _jsonl(batches)
    if fmt == ExportJob.Format.CSV:
        return _csv(batches)
    if fmt == ExportJob.Format.MARKDOWN:
        return _markdown(thread, batches)
    raise InvalidInput(f"Unknown export format {fmt!r}.", param="format")


def filtered_export_chunks(*, filters: ThreadFilters, fmt: str) -> Iterator[tuple[str, int]]:
    batches = filtered_message_batches(filters)
    if fmt == ExportJob.Format.JSONL:
        return _jsonl(batches)
    if fmt == ExportJob.Format.CSV:
        return _csv(batches)
    raise InvalidInput("Exports of many threads are JSON Lines or CSV.", param="format")


def filtered_export_estimate(filters: ThreadFilters) -> int:
    """Messages an export of these threads would hold, from the denormalised counters (no message scan)."""
    return int(threads_filtered_qs(filters).aggregate(n=Sum("message_count"))["n"] or 0)


# --- background jobs ------------------------------------------------------------------------------------------


def filters_to_params(filters: ThreadFilters) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, date) else v)
        for k, v in dataclasses.asdict(filters).items()
        if v not in ("", None, False)
    }


def filters_from_params(params: dict[str, Any]) -> ThreadFilters:
    values = {f.name: params[f.name] for f in dataclasses.fields(ThreadFilters) if f.name in params}
    for name in ("date_from", "date_to"):
        if values.get(name):
            values[name] = date.fromisoformat(values[name])
    return ThreadFilters(**values)


def export_job_create(
    *,
    user: Any,
    fmt: str,
    thread: Thread | None = None,
    filters: ThreadFilters | None = None,
    estimate: int = 0,
) -> ExportJob:
    """Queue a background export of one thread or of the threads matching ``filters``; the task runs after commit."""
    allowed = ExportJob.Format.values if thread is not None else FORMATS_FOR_FILTERS
    if fmt not in allowed:
        raise InvalidInput(f"Unknown export format {fmt!r}.", param="format")
    if thread is not None:
        params: dict[str, Any] = {"thread_id": thread.id}
        estimate = estimate or thread.message_count
    else:
        params = {"filters": filters_to_params(filters or ThreadFilters())}
    with transaction.atomic():
        job = ExportJob.objects.create(
            created_by=user_or_none(user),
            params=params,
            format=fmt,
            messages_total=estimate,
        )
        transaction.on_commit(lambda: app.send_task(EXPORT_JOB_TASK, args=[job.pk]))
    return job


def export_job_run(*, job_id: int) -> bool:
    """Write the export file. Claims the job (queued -> running) first, so a redelivered task does nothing.

    Returns whether this call did the work. A failure ends the job as failed with the reason.
    """
    if not ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(status=ExportJob.Status.RUNNING):
        return False
    job = ExportJob.objects.get(pk=job_id)
    path = exports_dir() / f"export-{job.pk}.{job.format}"
    partial = path.with_suffix(path.suffix + ".part")
    done = 0
    try:
        if "thread_id" in job.params:
            thread = Thread.objects.get(pk=job.params["thread_id"])
            chunks = thread_export_chunks(thread=thread, fmt=job.format)
        else:
            chunks = filtered_export_chunks(filters=filters_from_params(job.params.get("filters", {})), fmt=job.format)
        with partial.open("w", encoding="utf-8", newline="") as out:
            for text, count in chunks:
                out.write(text)
                if count:
                    done += count
                    ExportJob.objects.filter(pk=job.pk).update(messages_done=done)
        os.replace(partial, path)
    except Exception as error:  # any failure ends the job with a reason the person can read
        logger.exception("export %s failed", job.pk)
        partial.unlink(missing_ok=True)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        return True
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.COMPLETED,
        messages_done=done,
        messages_total=max(done, job.messages_total),
        file_path=str(path),
        finished_at=timezone.now(),
    )
    return True
