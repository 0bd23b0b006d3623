"""Exports of threads as JSON Lines, CSV or Markdown: streamed in keyset batches, never whole in memory.

Small exports stream straight into the HTTP response; big ones (more than EXPORT_INLINE_LIMIT messages by the
threads' denormalised message counts) become an ExportJob that a worker writes to a file under
VAR_DIR/exports while the console polls its progress.

Housekeeping (beat): ``exports_expire`` deletes files EXPORT_RETENTION_HOURS after their job finished and marks
the job expired; ``exports_reconcile`` fails running jobs whose worker stopped writing progress (deleting the
partial file) and sends a queued job's task again once when the broker seems to have lost it, then fails it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.http import HttpRequest
from django.utils import timezone

from agents_admin.errors import InvalidInput, LimitExceeded
from agents_admin.models import (
    ExportJob,
    Message,
    MessageComment,
    Review,
    Run,
    RunStep,
    Thread,
    ThreadFlag,
    ThreadNote,
)
from agents_admin.selectors.review_queues import review_answers
from agents_admin.selectors.threads import ThreadFilters, threads_matching
from agents_admin.services.audit import export_read_record
from agents_admin.services.dispatch import EXPORT_JOB_RUN, task_send
from agents_admin.services.review import user_or_none

logger = logging.getLogger(__name__)

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
# ``type`` says what a row is: a message, or what surrounds it (tool_call, run_error, comment, note, flags, review);
# for those ``role`` names who (the tool, the author) and ``text`` holds the readable content.
CSV_FIELDS = ("thread_id", "message_id", "seq", "role", "created_at", "status", "agent_id", "run_id", "text", "type")
# Spreadsheets run a cell that starts with one of these as a formula; such cells get a leading apostrophe.
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS_FOR_FILTERS = (ExportJob.Format.JSONL, ExportJob.Format.CSV)


# What a person reads on the job page when the housekeeping sweep gives up on a job.
WORKER_LOST = "the worker stopped while writing this export; start it again"
NEVER_PICKED_UP = "no worker picked up this export; start it again"
# Jobs a sweep handles per query; the sweeps page through more.
SWEEP_BATCH = 200


def exports_dir() -> Path:
    path = Path(settings.VAR_DIR) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _job_files(job: ExportJob) -> tuple[Path, Path]:
    """The finished file of a job and the partial one its worker writes first."""
    path = exports_dir() / f"export-{job.pk}.{job.format}"
    return path, path.with_suffix(path.suffix + ".part")


def _file_remove(path: Path) -> bool:
    """Delete an export file; True once it is gone (also when it was already missing).

    A path outside the exports directory (a row edited by hand) is never deleted, only forgotten (True). Any
    other failure (permissions, a busy disk) is logged and answered False, so the sweep tries again next time.
    """
    try:
        resolved = path.resolve()
        if not resolved.is_relative_to(exports_dir().resolve()):
            logger.warning("export file %s is outside the exports directory; not deleting it", path)
            return True
        resolved.unlink(missing_ok=True)
    except OSError:
        logger.exception("could not delete export file %s", path)
        return False
    return True


# --- sources: keyset batches of message rows, each with the threads it covers ---------------------------------

# A batch: the threads it opens (in id order, those without messages included) and messages of those threads (and
# of the thread the previous batch ended in) in (thread_id, seq) order.
Batch = tuple[list[str], list[dict[str, Any]]]


def _batches(qs: Any, thread_ids: list[str], *, batch_size: int) -> Iterator[Batch]:
    """Messages of ``thread_ids`` (in the database's id order; ``qs`` is already filtered to them), ``batch_size``
    per query, each batch with the threads it opens: those up to its last message's thread, and with the last batch
    every one left, so a thread without messages is opened in its place and never dropped."""
    threads = list(thread_ids)
    position = {thread_id: i for i, thread_id in enumerate(threads)}
    opened = 0
    after: tuple[str, int] | None = None
    while True:
        page = qs
        if after is not None:
            page = page.filter(Q(thread_id__gt=after[0]) | Q(thread_id=after[0], seq__gt=after[1]))
        rows = list(page.order_by("thread_id", "seq").values(*FIELDS)[:batch_size])
        last = len(rows) < batch_size
        upto = len(threads) if last else position[rows[-1]["thread_id"]] + 1
        if rows or upto > opened:
            yield threads[opened:upto], rows
        if last:
            return
        opened = upto
        after = (rows[-1]["thread_id"], rows[-1]["seq"])


def thread_message_batches(thread_id: str, *, batch_size: int = MESSAGE_BATCH) -> Iterator[Batch]:
    return _batches(Message.objects.filter(thread_id=thread_id), [thread_id], batch_size=batch_size)


def filtered_message_batches(
    filters: ThreadFilters, *, batch_size: int = MESSAGE_BATCH, thread_batch: int = THREAD_BATCH
) -> Iterator[Batch]:
    """Messages of every thread matching ``filters``, threads in id order, a bounded batch of threads at a time."""
    last_id = ""
    while True:
        ids = list(
            threads_matching(filters).filter(id__gt=last_id).order_by("id").values_list("id", flat=True)[:thread_batch]
        )
        if not ids:
            return
        yield from _batches(Message.objects.filter(thread_id__in=ids), ids, batch_size=batch_size)
        last_id = ids[-1]


# --- everything around the messages: tool calls, run errors, comments, notes, flags, reviews -------------------


def _username(user: Any) -> str:
    return user.get_username() if user is not None else ""


def _tool_call_item(thread_id: str, step: dict[str, Any], call: Any) -> dict[str, Any]:
    """One tool call of a step: a function's name, arguments and output, or a hosted tool's type and details."""
    call = call if isinstance(call, dict) else {}
    kind = str(call.get("type") or "function")
    details = call.get(kind) if isinstance(call.get(kind), dict) else {}
    return {
        "type": "tool_call",
        "thread_id": thread_id,
        "run_id": step["run_id"],
        "step_id": step["id"],
        "call_id": call.get("id", ""),
        "created_at": _iso(step["created_at"]),
        "status": step["status"],
        "tool": kind,
        "name": details.get("name", kind),
        "arguments": details.get("arguments", {k: v for k, v in details.items() if k != "output"}),
        "output": details.get("output"),
    }


class _ThreadExtras:
    """What surrounds the messages of some threads, read in a few queries per batch of threads (never per message).

    ``runs`` are each thread's runs, oldest first, with their tool calls and error as export items; the writer puts
    a run's items before the first message written after the run started (its answer), so they read in order.
    """

    def __init__(self, thread_ids: list[str]) -> None:
        self.head: dict[str, list[dict[str, Any]]] = {t: [] for t in thread_ids}
        self.runs: dict[str, list[tuple[datetime, list[dict[str, Any]]]]] = {t: [] for t in thread_ids}
        self.comments: dict[str, dict[str, list[dict[str, Any]]]] = {}  # thread -> message -> comments
        flags: dict[str, list[str]] = {}
        for thread_id, name in ThreadFlag.objects.filter(thread_id__in=thread_ids).values_list("thread_id", "name"):
            flags.setdefault(thread_id, []).append(name)
        for thread_id, names in flags.items():
            self.head[thread_id].append({"type": "flags", "thread_id": thread_id, "flags": sorted(names)})
        notes = (
            ThreadNote.objects.filter(thread_id__in=thread_ids).select_related("author").order_by("created_at", "id")
        )
        for note in notes:
            self.head[note.thread_id].append(
                {"type": "note", "thread_id": note.thread_id, "author": _username(note.author),
                 "created_at": _iso(note.created_at), "body": note.body}
            )  # fmt: skip
        reviews = Review.objects.filter(thread_id__in=thread_ids).select_related("queue", "reviewer")
        for review in reviews.order_by("created_at", "id"):
            self.head[review.thread_id].append(
                {"type": "review", "thread_id": review.thread_id, "queue": review.queue.name,
                 "reviewer": _username(review.reviewer), "created_at": _iso(review.created_at),
                 "skipped": review.skipped, "skip_reason": review.skip_reason,
                 "scores": dict(review_answers(review.queue.rubric, review)) if not review.skipped else {}}
            )  # fmt: skip
        comments = MessageComment.objects.filter(thread_id__in=thread_ids).select_related("author")
        for comment in comments.order_by("created_at", "id"):
            self.comments.setdefault(comment.thread_id, {}).setdefault(comment.message_id, []).append(
                {"type": "comment", "thread_id": comment.thread_id, "message_id": comment.message_id,
                 "author": _username(comment.author), "created_at": _iso(comment.created_at),
                 "edited_at": _iso(comment.updated_at), "body": comment.body}
            )  # fmt: skip
        self._runs(thread_ids)

    def _runs(self, thread_ids: list[str]) -> None:
        steps: dict[str, list[dict[str, Any]]] = {}
        tool_steps = RunStep.objects.filter(thread_id__in=thread_ids, type="tool_calls").order_by("created_at", "id")
        for step in tool_steps.values("id", "run_id", "thread_id", "status", "created_at", "step_details"):
            details = step["step_details"] if isinstance(step["step_details"], dict) else {}
            calls = details.get("tool_calls") if isinstance(details.get("tool_calls"), list) else []
            steps.setdefault(step["run_id"], []).extend(_tool_call_item(step["thread_id"], step, c) for c in calls)
        runs = Run.objects.filter(thread_id__in=thread_ids).order_by("created_at", "id")
        for run in runs.values("id", "thread_id", "status", "created_at", "failed_at", "last_error"):
            items = steps.get(run["id"], [])
            error = run["last_error"] if isinstance(run["last_error"], dict) else None
            if error:
                items = [*items, {"type": "run_error", "thread_id": run["thread_id"], "run_id": run["id"],
                                  "created_at": _iso(run["failed_at"] or run["created_at"]), "status": run["status"],
                                  "code": error.get("code", ""), "message": error.get("message", "")}]  # fmt: skip
            if items:
                self.runs[run["thread_id"]].append((run["created_at"], items))


def _flat(runs: list[tuple[datetime, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    return [item for _, items in runs for item in items]


def _everything(batches: Iterator[Batch]) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """(items, messages among them) per batch. Each thread opens with its flags, notes and reviews; then come its
    messages in order, each run's tool calls and error before the first message written after the run started (its
    answer), each message's comments after it. A thread without messages has its flags, notes, reviews and runs all
    the same. Memory holds one batch and the extras of the threads it opens."""
    current: str | None = None
    pending: list[tuple[datetime, list[dict[str, Any]]]] = []
    comments: dict[str, list[dict[str, Any]]] = {}
    for opened, rows in batches:
        items: list[dict[str, Any]] = []
        messages: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            messages.setdefault(row["thread_id"], []).append(row)
        extras = _ThreadExtras(opened) if opened else None
        for thread_id in [current, *opened] if current in messages else opened:
            if thread_id != current:
                assert extras is not None  # every thread but the one the previous batch ended in is opened here
                items.extend(_flat(pending))
                current = thread_id
                items.extend(extras.head[thread_id])
                pending, comments = extras.runs[thread_id], extras.comments.get(thread_id, {})
            for row in messages.pop(thread_id, []):
                while pending and pending[0][0] <= row["created_at"]:
                    items.extend(pending.pop(0)[1])
                items.append({"type": "message", **row})
                items.extend(comments.pop(row["id"], []))
        assert not messages, "a batch held messages of a thread it did not open"
        yield items, len(rows)
    if pending:
        yield _flat(pending), 0


# --- formats --------------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _message_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
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


def _jsonl(batches: Iterator[tuple[list[dict[str, Any]], int]]) -> Iterator[tuple[str, int]]:
    """One JSON object a line, its ``type`` first: message, tool_call, run_error, comment, note, flags or review."""
    for items, count in batches:
        lines = [
            json.dumps(_message_json(item) if item["type"] == "message" else item, ensure_ascii=False) + "\n"
            for item in items
        ]
        yield "".join(lines), count


def csv_cell(value: str) -> str:
    return "'" + value if value.startswith(CSV_FORMULA_START) else value


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _csv_row(item: dict[str, Any]) -> list[Any]:
    """The CSV_FIELDS of one item: a message as it is; the others with who in ``role`` and what in ``text``."""
    kind = item["type"]
    if kind == "message":
        return [
            item["thread_id"], item["id"], item["seq"], item["role"], _iso(item["created_at"]), item["status"],
            item["agent_id"] or "", item["run_id"] or "", csv_cell(item["text"]), kind,
        ]  # fmt: skip
    role, text, status, run_id, message_id = "", "", "", "", ""
    if kind == "tool_call":
        role, status, run_id = item["name"], item["status"], item["run_id"]
        text = f"{item['name']}({_json_text(item['arguments'])}) -> {_json_text(item['output'])}"
    elif kind == "run_error":
        role, status, run_id, text = "run", item["status"], item["run_id"], f"{item['code']}: {item['message']}"
    elif kind in ("comment", "note"):
        role, text, message_id = item["author"], item["body"], item.get("message_id", "")
    elif kind == "flags":
        text = ", ".join(item["flags"])
    elif kind == "review":
        role = item["reviewer"]
        answers = "; ".join(f"{label}: {answer}" for label, answer in item["scores"].items())
        text = f"skipped: {item['skip_reason']}" if item["skipped"] else f"{item['queue']}: {answers}"
    created = item.get("created_at", "")
    return [item["thread_id"], message_id, "", csv_cell(role), created, status, "", run_id, csv_cell(text), kind]


def _csv(batches: Iterator[tuple[list[dict[str, Any]], int]]) -> Iterator[tuple[str, int]]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    yield buffer.getvalue(), 0
    for items, count in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_csv_row(item) for item in items)
        yield buffer.getvalue(), count


def _fenced(text: str, info: str = "text") -> str:
    """``text`` as a fenced code block whose fence is longer than any backtick run in it, so nothing inside can
    close it: a line that looks like a turn heading stays text of the same turn, and HTML (``<script>``, ``<img>``)
    is shown as text by every Markdown renderer instead of being rendered."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}\n"


def _md_inline(value: Any) -> str:
    """Text for a Markdown heading or list item: one line, Markdown's and HTML's special characters escaped."""
    text = " ".join(str(value).split())
    return re.sub(r"([\\`*_\[\]<>#|!])", r"\\\1", text)


def _md_block(value: Any, info: str = "text") -> str:
    """A value (text, or JSON of anything else) in a fence of its own (``_fenced``), then a blank line."""
    return _fenced(_json_text(value), info) + "\n"


def _md_item(item: dict[str, Any]) -> str:
    kind, when = item["type"], _md_inline(item.get("created_at", ""))
    if kind == "message":
        row = item
        return f"## {row['seq']}. {row['role']} · {_iso(row['created_at'])}\n\n<!-- {row['id']} -->\n\n" + _md_block(
            row["text"]
        )
    if kind == "tool_call":
        head = f"#### Tool call: {_md_inline(item['name'])} · run {_md_inline(item['run_id'])} · {when}\n\n"
        return f"{head}Arguments:\n\n{_md_block(item['arguments'], 'json')}Output:\n\n{_md_block(item['output'] or '')}"
    if kind == "run_error":
        head = f"#### Run {_md_inline(item['run_id'])} {_md_inline(item['status'])} · {when}\n\n"
        return head + _md_block(f"{item['code']}: {item['message']}")
    if kind == "comment":
        return f"#### Comment by {_md_inline(item['author'] or 'a deleted user')} · {when}\n\n{_md_block(item['body'])}"
    if kind == "note":
        return f"### Note by {_md_inline(item['author'] or 'a deleted user')} · {when}\n\n{_md_block(item['body'])}"
    if kind == "flags":
        return "Flags: " + ", ".join(_md_inline(name) for name in item["flags"]) + "\n\n"
    # a review
    head = (
        f"### Review in {_md_inline(item['queue'])} by {_md_inline(item['reviewer'] or 'a deleted user')} · {when}\n\n"
    )
    if item["skipped"]:
        return f"{head}Skipped: {_md_inline(item['skip_reason'])}\n\n"
    answers = "".join(
        f"- {_md_inline(label)}: {_md_inline(answer or '—')}\n" for label, answer in item["scores"].items()
    )
    return head + answers + "\n"


def _markdown(thread: Thread, batches: Iterator[tuple[list[dict[str, Any]], int]]) -> Iterator[tuple[str, int]]:
    """A readable transcript: one ``##`` heading per message, written only by us (sequence, role, time, id); each
    message's text in a fence of its own (``_fenced``), as is the thread's metadata and everything around the
    messages (tool calls, errors, comments, notes), whose names are escaped (``_md_inline``)."""
    header = f"# Thread {thread.id}\n\n- Created: {_iso(thread.created_at)}\n- Messages: {thread.message_count}\n"
    if thread.metadata:
        header += "- Metadata:\n\n" + _fenced(json.dumps(thread.metadata, ensure_ascii=False), "json")
    yield header + "\n", 0
    for items, count in batches:
        yield "".join(_md_item(item) for item in items), count


def thread_export_chunks(*, thread: Thread, fmt: str) -> Iterator[tuple[str, int]]:
    """(text, messages in it) chunks of one thread's export."""
    batches = _everything(thread_message_batches(thread.id))
    if fmt == ExportJob.Format.JSONL:
        return _jsonl(batches)
    if fmt == ExportJob.Format.CSV:
        return _csv(batches)
    if fmt == ExportJob.Format.MARKDOWN:
        return _markdown(thread, batches)
    raise InvalidInput(f"Unknown export format {fmt!r}.", param="format")


def filtered_export_chunks(*, filters: ThreadFilters, fmt: str) -> Iterator[tuple[str, int]]:
    if fmt not in FORMATS_FOR_FILTERS:
        raise InvalidInput("Exports of many threads are JSON Lines or CSV.", param="format")
    batches = _everything(filtered_message_batches(filters))
    return _jsonl(batches) if fmt == ExportJob.Format.JSONL else _csv(batches)


def filtered_export_estimate(filters: ThreadFilters) -> int:
    """Messages an export of these threads would hold, from the denormalised counters (no message scan)."""
    return int(threads_matching(filters).aggregate(n=Sum("message_count"))["n"] or 0)


# --- background jobs ------------------------------------------------------------------------------------------


def job_filters(job: ExportJob) -> ThreadFilters:
    """The filters of an export of many threads, stored as the query-string parameters that select them."""
    filters, _errors = ThreadFilters.from_params(job.params.get("filters", {}))
    return filters


def export_job_create(
    *,
    actor: Any,
    fmt: str,
    thread: Thread | None = None,
    filters: ThreadFilters | None = None,
    estimate: int = 0,
    request: HttpRequest | None = None,
) -> ExportJob:
    """Queue a background export of one thread or of the threads matching ``filters``; the task runs after commit.

    Audited as ``export.create`` in the job's transaction (its file's download is ``export.download``)."""
    allowed = ExportJob.Format.values if thread is not None else FORMATS_FOR_FILTERS
    if fmt not in allowed:
        raise InvalidInput(f"Unknown export format {fmt!r}.", param="format")
    if thread is not None:
        params: dict[str, Any] = {"thread_id": thread.id}
        estimate = estimate or thread.message_count
    else:
        params = {"filters": (filters or ThreadFilters()).to_params()}
    with transaction.atomic():
        _refuse_over_caps(user_or_none(actor))
        job = ExportJob.objects.create(
            created_by=user_or_none(actor),
            params=params,
            format=fmt,
            messages_total=estimate,
        )
        export_read_record(
            action="export.create", actor=actor, fmt=fmt, job_id=job.pk, request=request, estimate=estimate,
            **params,
        )  # fmt: skip
        task_send(EXPORT_JOB_RUN, job.pk)
    return job


def _refuse_over_caps(user: Any) -> None:
    """Background exports are bounded: per person, those unfinished and those started in the last hour; for
    everyone, those unfinished. LimitExceeded (naming ``format``) says which and when to try again."""
    unfinished = ExportJob.objects.filter(status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING])
    if unfinished.count() >= settings.EXPORT_MAX_ACTIVE:
        raise LimitExceeded(
            f"{settings.EXPORT_MAX_ACTIVE} exports are being written already. Try again when one has finished.",
            param="format",
            code="export_limit",
        )
    if user is None:
        return
    if unfinished.filter(created_by=user).count() >= settings.EXPORT_MAX_ACTIVE_PER_USER:
        raise LimitExceeded(
            f"You have {settings.EXPORT_MAX_ACTIVE_PER_USER} exports being written. Wait for one to finish.",
            param="format",
            code="export_limit",
        )
    hour_ago = timezone.now() - timedelta(hours=1)
    recent = ExportJob.objects.filter(created_by=user, created_at__gte=hour_ago).count()
    if recent >= settings.EXPORT_MAX_PER_USER_PER_HOUR:
        raise LimitExceeded(
            f"You started {recent} exports in the last hour (the limit is {settings.EXPORT_MAX_PER_USER_PER_HOUR}). "
            "Try again later.",
            param="format",
            code="export_limit",
        )


class _JobTakenAway(Exception):
    """The job is no longer running under this worker (the reconciler failed it): stop writing."""


def _progress(job_id: int, done: int) -> None:
    """Save progress and the heartbeat; raise _JobTakenAway when the job is no longer ours to write."""
    if not ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.RUNNING).update(
        messages_done=done, heartbeat_at=timezone.now()
    ):
        raise _JobTakenAway


def export_job_run(*, job_id: int) -> bool:
    """Write the export file. Claims the job (queued -> running) first, so a redelivered task does nothing.

    Returns whether this call did the work. A failure ends the job as failed with the reason.
    """
    job = export_job_claim(job_id=job_id)
    if job is None:
        return False
    export_job_write(job=job, chunks=_job_chunks(job))
    return True


def export_job_claim(*, job_id: int) -> ExportJob | None:
    """queued -> running (with a first heartbeat); the job for exactly one caller, None for everyone else."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, heartbeat_at=timezone.now()
    )
    return ExportJob.objects.get(pk=job_id) if claimed else None


def _job_chunks(job: ExportJob) -> Iterator[tuple[str, int]]:
    # A generator, so that a missing thread fails inside export_job_write, which records the reason.
    if "thread_id" in job.params:
        thread = Thread.objects.get(pk=job.params["thread_id"])
        yield from thread_export_chunks(thread=thread, fmt=job.format)
    else:
        yield from filtered_export_chunks(filters=job_filters(job), fmt=job.format)


def export_job_write(*, job: ExportJob, chunks: Iterator[tuple[str, int]]) -> None:
    """Write a claimed job's chunks to its file, then complete it; any failure fails it with the reason.

    Every chunk saves progress and the heartbeat. If the reconciler has meanwhile failed the job (its heartbeat
    looked too old), the worker stops and deletes what it wrote: a job never ends with two outcomes, and a failed
    job never leaves a file behind.
    """
    path, part = _job_files(job)
    done = 0
    try:
        # 0600: conversation text, readable by the service's own user only (not by others on the machine).
        descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8", newline="") as out:
            for text, count in chunks:
                out.write(text)
                done += count
                _progress(job.pk, done)
        os.replace(part, path)
    except _JobTakenAway:
        logger.warning("export %s was given up while its worker was still writing; stopping", job.pk)
        _file_remove(part)
        return
    except Exception as error:  # any failure ends the job with a reason the person can read
        logger.exception("export %s failed", job.pk)
        _file_remove(part)
        ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(
            status=ExportJob.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        return
    finished = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(
        status=ExportJob.Status.COMPLETED,
        messages_done=done,
        messages_total=max(done, job.messages_total),
        file_path=str(path),
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    if not finished:  # given up between the last chunk and now: no page will offer this file
        _file_remove(path)


# --- housekeeping (beat) --------------------------------------------------------------------------------------


def exports_expire(*, now: datetime | None = None) -> int:
    """Delete the files of jobs completed more than EXPORT_RETENTION_HOURS ago and mark them expired.

    Returns how many jobs expired. The file goes first, then a conditional update (completed -> expired): a
    missing file counts as deleted, a file that cannot be deleted leaves its job completed for the next sweep,
    and two sweeps at once expire each job once.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.EXPORT_RETENTION_HOURS)
    due = ExportJob.objects.filter(status=ExportJob.Status.COMPLETED, finished_at__lt=cutoff).order_by("pk")
    expired, last_id = 0, 0
    while batch := list(due.filter(pk__gt=last_id).only("id", "format", "file_path")[:SWEEP_BATCH]):
        last_id = batch[-1].pk
        for job in batch:
            files = [Path(job.file_path)] if job.file_path else list(_job_files(job)[:1])
            if not all(_file_remove(path) for path in files):
                continue
            expired += ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.COMPLETED).update(
                status=ExportJob.Status.EXPIRED, file_path="", expired_at=now
            )
    if expired:
        logger.info("expired %d export files", expired)
    return expired


def exports_reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """Take back export jobs that lost their worker or their task; returns counts of what it did.

    - running, no heartbeat for EXPORT_STALE_SECONDS: failed (WORKER_LOST), partial and finished files deleted.
      The update is conditional on the heartbeat it saw, so a worker that just wrote progress keeps its job.
    - queued for EXPORT_STALE_SECONDS: the task is sent once more (the worker's claim makes a duplicate harmless);
      still queued EXPORT_STALE_SECONDS after that: failed (NEVER_PICKED_UP).
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    counts = {"failed": 0, "redispatched": 0}
    dead = ExportJob.objects.filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale),
        status=ExportJob.Status.RUNNING,
    )
    for job in list(dead.only("id", "format", "heartbeat_at")[:SWEEP_BATCH]):
        if ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING, heartbeat_at=job.heartbeat_at).update(
            status=ExportJob.Status.FAILED, error=WORKER_LOST, finished_at=now
        ):
            logger.warning("export %s lost its worker; failed it", job.pk)
            for path in _job_files(job):
                _file_remove(path)
            counts["failed"] += 1
    lost = ExportJob.objects.filter(status=ExportJob.Status.QUEUED, created_at__lt=stale, redispatched_at__isnull=True)
    for job_id in list(lost.values_list("id", flat=True)[:SWEEP_BATCH]):
        with transaction.atomic():
            if ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED, redispatched_at__isnull=True).update(
                redispatched_at=now
            ):
                task_send(EXPORT_JOB_RUN, job_id)
                counts["redispatched"] += 1
    counts["failed"] += ExportJob.objects.filter(status=ExportJob.Status.QUEUED, redispatched_at__lt=stale).update(
        status=ExportJob.Status.FAILED, error=NEVER_PICKED_UP, finished_at=now
    )
    return counts
