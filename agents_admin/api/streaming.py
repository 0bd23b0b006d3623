"""Streaming runs as server-sent events, fed by polling the Run row, its steps and its assistant message.

Framing the Azure SDK parses (reference section 5): ``event: <name>\\ndata: <one-line JSON>\\n\\n`` per event,
LF only, ending with ``event: done`` / ``data: [DONE]``. The worker writes partial text into an in-progress
assistant message; the difference since the last poll becomes a ``thread.message.delta``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse

from agents_admin.api.serializers import message_json, run_json, step_delta_json, step_json, thread_json
from agents_admin.models import Message, Run, RunStatus, RunStep, Thread

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.1


def sse(event: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


def event_stream(run_id: str, *, thread: Thread | None = None, resumed: bool = False) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_events(run_id, thread=thread, resumed=resumed), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # tell nginx-style proxies not to buffer the stream
    return response


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
        # A fast run may be over before the first poll: still tell its story in order (in_progress first,
        # then the message and steps, then the final status).
        if not self.started and run.status != RunStatus.QUEUED and run.started_at is not None:
            self.started = True
            yield sse("thread.run.in_progress", {**run_json(run), "status": RunStatus.IN_PROGRESS})
        # New steps first: a message-creation step is created before its message, and completes after it.
        yield from self._steps(started_only=True)
        yield from self._messages()
        yield from self._steps()
        if run.status != self.status and run.status not in (RunStatus.QUEUED, RunStatus.IN_PROGRESS):
            yield sse(f"thread.run.{run.status}", run_json(run))
        self.status = run.status

    def _messages(self) -> Iterator[bytes]:
        messages = Message.objects.filter(run_id=self.run_id, role=Message.Role.ASSISTANT).order_by("seq")
        for message in messages:
            if message.id in self.finished_messages:
                continue
            if message.id not in self.sent_text:
                self.sent_text[message.id] = ""
                start = {**message_json(message), "status": "in_progress", "content": [], "completed_at": None}
                yield sse("thread.message.created", start)
                yield sse("thread.message.in_progress", start)
            sent, text = self.sent_text[message.id], message.text
            if len(text) > len(sent) and text.startswith(sent):
                piece = text[len(sent) :]
                self.sent_text[message.id] = text
                delta = {"index": 0, "type": "text", "text": {"value": piece, "annotations": []}}
                yield sse(
                    "thread.message.delta",
                    {
                        "id": message.id,
                        "object": "thread.message.delta",
                        "delta": {"role": "assistant", "content": [delta]},
                    },
                )
            if message.status != Message.Status.IN_PROGRESS:
                self.finished_messages.add(message.id)
                yield sse(f"thread.message.{message.status}", message_json(message))

    def _steps(self, *, started_only: bool = False) -> Iterator[bytes]:
        for step in RunStep.objects.filter(run_id=self.run_id).order_by("created_at", "id"):
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
            if step.status != RunStep.Status.IN_PROGRESS:
                yield sse(f"thread.run.step.{step.status}", data)
            self.steps[step.id] = step.status


def _events(run_id: str, *, thread: Thread | None, resumed: bool) -> Iterator[bytes]:
    try:
        if thread is not None:
            yield sse("thread.created", thread_json(thread))
        run = Run.objects.get(pk=run_id)
        if not resumed:
            yield sse("thread.run.created", {**run_json(run), "status": RunStatus.QUEUED})
        yield sse("thread.run.queued", {**run_json(run), "status": RunStatus.QUEUED})
        watcher = _Watcher(run, resumed=resumed)
        # The run expires on its own; this only guards against a stream outliving everything.
        deadline = time.monotonic() + settings.RUN_EXPIRY_SECONDS + 60
        while time.monotonic() < deadline:
            run.refresh_from_db()
            yield from watcher.poll(run)
            if run.is_terminal or run.status == RunStatus.REQUIRES_ACTION:
                break
            time.sleep(POLL_SECONDS)
    except Exception:
        logger.exception("stream of run %s failed", run_id)
        yield sse("error", {"error": {"code": "server_error", "message": "The stream failed.", "type": "server_error"}})
    yield sse("done", "[DONE]")
