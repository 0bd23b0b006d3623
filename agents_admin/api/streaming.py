"""Streaming runs as server-sent events, served asynchronously (under ASGI an open stream waits as a coroutine and
holds no server worker nor thread), woken when the worker says its run changed (lib/run_events.py) to read the Run
row, its steps and its assistant message from the store (a cheap poll when the notices' server cannot be reached).
The answer's text also comes in the worker's text notices as the model produces it, between the checkpoints that
write it to the store: a delta is shown from whichever source has it first, each piece once.

Framing the Azure SDK parses (reference section 5): ``event: <name>\\ndata: <one-line JSON>\\n\\n`` per event,
LF only, ending with ``event: done`` / ``data: [DONE]``. The worker writes partial text into an in-progress
assistant message; the difference since the last look becomes a ``thread.message.delta``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import StreamingHttpResponse

from agents_admin.api.base import Call
from agents_admin.api.serializers import message_json, run_json, step_delta_json, step_json, thread_json
from agents_admin.lib import run_events
from agents_admin.models import Message, Run, RunStatus, RunStep, Thread
from agents_admin.services.api_limits import (
    STREAM_RENEW_SECONDS,
    stream_slot_release,
    stream_slot_renew,
    stream_slot_take,
)

logger = logging.getLogger(__name__)

# A poll that read around a worker's commit is made again at once, at most this many times per look.
AGAIN_POLLS = 3
# How long a stream that starts as its process's subscription does waits for it before looking anyway.
SUBSCRIBE_WAIT_SECONDS = 1.0


def sse(event: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


@dataclass
class StreamSlot:
    """One of an API key's open streams (services/api_limits.py), held until the stream ends."""

    api_key_id: int
    token: str

    def renew(self) -> None:
        stream_slot_renew(api_key_id=self.api_key_id, token=self.token)

    def release(self) -> None:
        stream_slot_release(api_key_id=self.api_key_id, token=self.token)


@contextlib.contextmanager
def stream_slot(call: Call) -> Iterator[StreamSlot]:
    """Take a stream slot before doing what the stream will show (a refused stream creates no run); it is given
    back here if that fails, else by the stream when it ends."""
    slot = StreamSlot(call.api_key.pk, stream_slot_take(api_key_id=call.api_key.pk))
    try:
        yield slot
    except BaseException:
        slot.release()
        raise


def sse_response(chunks: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # tell nginx-style proxies not to buffer the stream
    return response


class LookPool:
    """The few threads that make the streams' looks at the store (``STREAM_DB_THREADS``), so database connections
    stay bounded however many streams are open: each thread keeps its connection while looks keep coming, and
    closes it after ``LOOK_IDLE_SECONDS`` without one (or after a database error)."""

    LOOK_IDLE_SECONDS = 10.0

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | threading.Barrier] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.pid = 0

    async def run[T](self, fn: Callable[[], T]) -> T:
        future: Future[T] = Future()
        self._start_threads()
        self.jobs.put((fn, future))
        return await asyncio.wrap_future(future)

    def close_connections(self) -> None:
        """Every thread closes its database connection now (a test database about to be dropped)."""
        with self.lock:
            threads = [t for t in self.threads if t.is_alive()]
        barrier = threading.Barrier(len(threads) + 1, timeout=10)
        for _ in threads:
            self.jobs.put(barrier)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    def _start_threads(self) -> None:
        with self.lock:
            if self.pid != os.getpid():  # a forked process inherits no threads
                self.pid, self.threads = os.getpid(), []
            self.threads = [t for t in self.threads if t.is_alive()]
            while len(self.threads) < max(1, settings.STREAM_DB_THREADS):
                thread = threading.Thread(target=self._work, daemon=True, name="stream-looks")
                thread.start()
                self.threads.append(thread)

    def _work(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=self.LOOK_IDLE_SECONDS)
            except queue.Empty:
                connection.close()
                continue
            if isinstance(job, threading.Barrier):
                connection.close()
                with contextlib.suppress(threading.BrokenBarrierError):
                    job.wait()
                continue
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                connection.close()  # a broken connection is not handed to the next look
                future.set_exception(exc)


LOOKS = LookPool()


async def watch_run[T](
    run_id: str,
    slot: StreamSlot | None,
    look: Callable[[], tuple[list[T], bool]],
    text: Callable[[list[run_events.TextNotice]], list[T]] | None = None,
) -> AsyncIterator[T]:
    """What ``look`` finds each time the run may have changed, until it says it is done, and what ``text`` makes
    of the worker's text notices as they come (without ``text``, they are not needed: the next look has it).

    ``look`` reads the store (synchronously, on the look pool's threads); the stream waits between looks for a
    notice that the run changed, at most STREAM_IDLE_SECONDS (STREAM_POLL_SECONDS while notices are down).
    ``text`` runs in the event loop between looks, never during one. Nothing here runs in the request's own
    thread (asgiref's thread-sensitive one): an open stream holds no thread.
    """
    hub = run_events.hub(settings.RUN_EVENTS_URL)
    renewed = time.monotonic()
    # The run expires on its own; this only guards against a stream outliving everything.
    deadline = time.monotonic() + settings.RUN_EXPIRY_SECONDS + 60
    try:
        with hub.watch(run_id) as inbox:
            # Subscribed before the first look, so a change made after it is never missed.
            await hub.ready(SUBSCRIBE_WAIT_SECONDS)
            # Text notices that came after the notice that asked for the look: shown after it.
            later: list[run_events.TextNotice] = []
            while time.monotonic() < deadline:
                items, done = await LOOKS.run(look)
                for item in items:
                    yield item
                if done:
                    return
                if later and text is not None:
                    for item in text(later):
                        yield item
                later = []
                if slot is not None and time.monotonic() - renewed > STREAM_RENEW_SECONDS:
                    renewed = time.monotonic()
                    await LOOKS.run(slot.renew)
                idle = settings.STREAM_IDLE_SECONDS if hub.healthy else settings.STREAM_POLL_SECONDS
                look_at = time.monotonic() + idle
                # Text notices are shown as they come; the next look is for an empty notice, or when idle.
                while True:
                    woken = await inbox.wait(max(look_at - time.monotonic(), 0.0))
                    notices = inbox.take()
                    asked = [i for i, notice in enumerate(notices) if notice is None]
                    now = notices[: asked[-1]] if asked else notices
                    later = [n for n in notices[asked[-1] + 1 :] if n is not None] if asked else []
                    texts = [n for n in now if n is not None]
                    if texts and text is not None:
                        for item in text(texts):
                            yield item
                    if asked or not woken or time.monotonic() >= look_at:
                        break
    finally:
        if slot is not None:
            await LOOKS.run(slot.release)


def event_stream(
    run_id: str, *, thread: Thread | None = None, resumed: bool = False, slot: StreamSlot | None = None
) -> StreamingHttpResponse:
    return sse_response(_events(run_id, thread=thread, resumed=resumed, slot=slot))


class _Watcher:
    """What has been told to the client so far, so each poll emits only what changed."""

    def __init__(self, run: Run, *, resumed: bool) -> None:
        self.run_id = run.id
        self.agent_id = run.agent_ref
        self.status: str = RunStatus.QUEUED
        self.started = False
        self.steps: dict[str, str] = {}
        self.sent_text: dict[str, str] = {}
        self.finished_messages: set[str] = set()
        # Set by a poll that saw a step finish before its message did (two reads around a commit).
        self.again = False
        if resumed:
            # Only news from here on: what existed before the tool outputs were submitted (run.enqueued_at) was
            # streamed already. What came after is news even if the worker finished it before this stream began.
            submitted = run.enqueued_at
            for step_id, status, created_at in RunStep.objects.filter(run_id=run.id).values_list(
                "id", "status", "created_at"
            ):
                if submitted is None or created_at < submitted:
                    self.steps[step_id] = status
            # ... and the tool-call step these outputs completed: its step.completed opens the stream.
            answered = RunStep.objects.filter(
                run_id=run.id, type=RunStep.Type.TOOL_CALLS, status=RunStep.Status.COMPLETED,
                completed_at__gte=submitted,
            ).values_list("id", flat=True) if submitted else []  # fmt: skip
            self.steps.update(dict.fromkeys(answered, RunStep.Status.IN_PROGRESS))
            for message in Message.objects.filter(run_id=run.id).only("id", "text", "created_at"):
                if submitted is None or message.created_at < submitted:
                    self.sent_text[message.id] = message.text
                    self.finished_messages.add(message.id)

    def poll(self, run: Run) -> Iterator[bytes]:
        """What changed since the last poll. ``run`` is read before everything else, so when it has ended, what
        ended with it is in the reads below. The messages are read before the steps: a worker's commit landing
        between the two reads shows a step ahead of its message, never a message ahead of its step, and what is
        not consistent yet (a step finished whose message is not) waits for ``again``, a fresh poll."""
        self.again = False
        final = run.is_terminal or run.status == RunStatus.REQUIRES_ACTION
        messages = list(Message.objects.filter(run_id=self.run_id, role=Message.Role.ASSISTANT).order_by("seq"))
        steps = list(RunStep.objects.filter(run_id=self.run_id).order_by("created_at", "id"))
        step_of = {
            (step.step_details or {}).get("message_creation", {}).get("message_id"): step.id
            for step in steps
            if step.type == RunStep.Type.MESSAGE_CREATION
        }
        # A fast run may be over before the first poll: still tell its story in order (in_progress first,
        # then the message and steps, then the final status).
        if not self.started and run.status != RunStatus.QUEUED and run.started_at is not None:
            self.started = True
            yield sse("thread.run.in_progress", {**run_json(run), "status": RunStatus.IN_PROGRESS})
        # New steps first: a message-creation step is created before its message, and completes after it.
        yield from self._steps(steps, final=final, started_only=True)
        yield from self._messages(messages, step_of)
        yield from self._steps(steps, final=final)
        if self.again:
            return
        if run.status != self.status and run.status not in (RunStatus.QUEUED, RunStatus.IN_PROGRESS):
            yield sse(f"thread.run.{run.status}", run_json(run))
        self.status = run.status

    def _messages(self, messages: list[Message], step_of: dict[str | None, str]) -> Iterator[bytes]:
        for message in messages:
            if message.id in self.finished_messages:
                continue
            step_id = step_of.get(message.id)
            if step_id is not None and step_id not in self.steps:
                continue  # its step is told first
            if message.id not in self.sent_text:
                self.sent_text[message.id] = ""
                start = {**message_json(message), "status": "in_progress", "content": [], "completed_at": None}
                yield sse("thread.message.created", start)
                yield sse("thread.message.in_progress", start)
            sent, text = self.sent_text[message.id], message.text
            if len(text) > len(sent) and text.startswith(sent):
                yield self._delta(message.id, text[len(sent) :])
            if message.status != Message.Status.IN_PROGRESS:
                self.finished_messages.add(message.id)
                yield sse(f"thread.message.{message.status}", message_json(message))

    def text(self, notices: list[run_events.TextNotice]) -> list[bytes]:
        """The deltas of the worker's text notices: a piece is shown if its message has been shown and is not
        finished, and it continues the text shown so far (a notice missed before it leaves a gap, and the store's
        text, at the next checkpoint, fills it); what was already shown, from the store or a notice, is not."""
        chunks = []
        for notice in notices:
            sent = self.sent_text.get(notice.message_id)
            if sent is None or notice.message_id in self.finished_messages:
                continue
            shown = len(sent) - notice.offset
            if shown < 0 or shown >= len(notice.text) or not notice.text.startswith(sent[notice.offset :]):
                continue
            chunks.append(self._delta(notice.message_id, notice.text[shown:]))
        return chunks

    def _delta(self, message_id: str, piece: str) -> bytes:
        self.sent_text[message_id] += piece
        delta = {"index": 0, "type": "text", "text": {"value": piece, "annotations": []}}
        return sse(
            "thread.message.delta",
            {"id": message_id, "object": "thread.message.delta", "delta": {"role": "assistant", "content": [delta]}},
        )

    def _steps(self, steps: list[RunStep], *, final: bool, started_only: bool = False) -> Iterator[bytes]:
        for step in steps:
            before = self.steps.get(step.id)
            # The first pass tells of new steps, and of tool-call steps that finished (they owe nothing to a
            # message); a message-creation step completes in the second pass, after its message.
            finished_tools = step.type == RunStep.Type.TOOL_CALLS and before is not None
            if before == step.status or (started_only and before is not None and not finished_tools):
                continue
            data = step_json(step, assistant_id=self.agent_id)
            if before is None:
                # As it was when it started, even if it finished between two polls: in progress, no usage yet.
                started = {**data, "status": "in_progress", "completed_at": None, "usage": None}
                yield sse("thread.run.step.created", started)
                yield sse("thread.run.step.in_progress", started)
                if step.type == RunStep.Type.TOOL_CALLS:
                    yield sse("thread.run.step.delta", step_delta_json(step))
                self.steps[step.id] = RunStep.Status.IN_PROGRESS
                if started_only:
                    continue
            if step.status == RunStep.Status.IN_PROGRESS:
                continue
            message_id = (step.step_details or {}).get("message_creation", {}).get("message_id")
            if message_id and message_id not in self.finished_messages and not final:
                # Read before the commit that finished the step: its message's end comes first, next poll.
                self.again = True
                continue
            yield sse(f"thread.run.step.{step.status}", data)
            self.steps[step.id] = step.status


async def _events(
    run_id: str, *, thread: Thread | None, resumed: bool, slot: StreamSlot | None
) -> AsyncIterator[bytes]:
    state: dict[str, Any] = {}

    def look() -> tuple[list[bytes], bool]:
        chunks: list[bytes] = []
        if "watcher" not in state:
            if thread is not None:
                chunks.append(sse("thread.created", thread_json(thread)))
            run = Run.objects.get(pk=run_id)
            if not resumed:
                chunks.append(sse("thread.run.created", {**run_json(run), "status": RunStatus.QUEUED}))
            chunks.append(sse("thread.run.queued", {**run_json(run), "status": RunStatus.QUEUED}))
            state["watcher"] = _Watcher(run, resumed=resumed)
        else:
            run = Run.objects.get(pk=run_id)
        watcher = state["watcher"]
        chunks.extend(watcher.poll(run))
        for _ in range(AGAIN_POLLS):
            if not watcher.again:
                break
            run = Run.objects.get(pk=run_id)
            chunks.extend(watcher.poll(run))
        return chunks, not watcher.again and (run.is_terminal or run.status == RunStatus.REQUIRES_ACTION)

    def text(notices: list[run_events.TextNotice]) -> list[bytes]:
        watcher = state.get("watcher")
        return watcher.text(notices) if watcher is not None else []

    try:
        async for chunk in watch_run(run_id, slot, look, text):
            yield chunk
    except Exception:
        logger.exception("stream of run %s failed", run_id)
        yield sse("error", {"error": {"code": "server_error", "message": "The stream failed.", "type": "server_error"}})
    yield sse("done", "[DONE]")
