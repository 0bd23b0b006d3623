"""Recording what a run did, as it happens: one span per unit of work, written once when it ends.

The run engine carries a ``RunRecorder`` through a worker turn: it notes the wait in the queue, each model call
(connection, deployment, parameters, tools offered, truncation, the input as sent, retries, time to first token,
latency, finish reason, usage, errors) and writes them all in one INSERT when the turn ends. Tool calls become
spans when their outputs are submitted (``tool_spans_record``), with who submitted them and how long the run
waited. Nothing here raises into the engine: a trace that cannot be written is logged and the run goes on.

Bounded storage: a model call's input is stored once per call (not per retry), each message capped at
``TRACE_MESSAGE_MAX_CHARS`` and the whole input at ``TRACE_INPUT_MAX_CHARS`` (the oldest messages give way
first); tool arguments, outputs and the reply text are capped at ``TRACE_TEXT_MAX_CHARS``. Every cut records how
many characters it left out, so the page can say so.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from agents_admin.models import ModelConnection, Run, RunSpan, RunStep
from agents_admin.providers.base import ChatMessage, Checkpoint, ModelReply, ModelRequest, ProviderError
from agents_admin.services import telemetry
from agents_admin.services.audit import Actor

logger = logging.getLogger(__name__)


def tracing_enabled() -> bool:
    return bool(getattr(settings, "TRACE_RUNS", True))


def capped(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to ``limit`` characters, and how many were left out (0 when it fits)."""
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def _text_limit() -> int:
    return int(getattr(settings, "TRACE_TEXT_MAX_CHARS", 8_000))


def input_record(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The messages as sent, in bounded form: each capped, and the oldest emptied once the total is spent."""
    per_message = int(getattr(settings, "TRACE_MESSAGE_MAX_CHARS", 8_000))
    remaining = int(getattr(settings, "TRACE_INPUT_MAX_CHARS", 200_000))
    records: list[dict[str, Any]] = []
    # Newest first, so when the total runs out it is the oldest history that is left out, never the question.
    for message in reversed(messages):
        record: dict[str, Any] = {"role": message.role}
        content, cut = capped(message.content, min(per_message, max(remaining, 0)))
        remaining -= len(content)
        record["content"] = content
        if cut:
            record["omitted_chars"] = cut
        if message.tool_calls:
            record["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": capped(c.arguments, per_message)[0]}
                for c in message.tool_calls
            ]
        if message.tool_call_id:
            record["tool_call_id"] = message.tool_call_id
        records.append(record)
    records.reverse()
    return records


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


@dataclass
class ModelCallTrace:
    """One model call in flight: started when the provider is first asked, ended with a reply or an error."""

    recorder: RunRecorder
    name: str
    attributes: dict[str, Any]
    input: list[dict[str, Any]]
    started_at: datetime = field(default_factory=timezone.now)
    _start: float = field(default_factory=time.monotonic)
    _attempt_start: float = field(default_factory=time.monotonic)
    _first_token: float | None = None
    retries: list[dict[str, Any]] = field(default_factory=list)

    def watch(self, checkpoint: Checkpoint) -> Checkpoint:
        """``checkpoint`` that also notes when the first token of the answering attempt arrived."""

        def traced(text: str) -> None:
            if text and self._first_token is None:
                self._first_token = time.monotonic()
            checkpoint(text)

        return traced

    def retry(self, exc: ProviderError, wait: float, attempt: int) -> None:
        """An attempt failed transiently and the engine waits ``wait`` seconds before the next one."""
        retry_after = getattr(exc, "retry_after", None)
        self.retries.append(
            {
                "attempt": attempt,
                "code": exc.code,
                "message": capped(exc.message, 500)[0],
                "at": timezone.now().isoformat(),
                "attempt_ms": _ms(time.monotonic() - self._attempt_start),
                "wait_ms": _ms(wait),
                "retry_after_ms": _ms(retry_after) if retry_after else None,
            }
        )

    def next_attempt(self) -> None:
        self._attempt_start = time.monotonic()
        self._first_token = None

    def finish(self, reply: ModelReply) -> None:
        text, cut = capped(reply.text, _text_limit())
        output: dict[str, Any] = {"text": text}
        if cut:
            output["omitted_chars"] = cut
        if reply.tool_calls:
            output["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": capped(c.arguments, _text_limit())[0]}
                for c in reply.tool_calls
            ]
        self._end(
            RunSpan.Status.OK,
            finish_reason=reply.finish_reason,
            usage={"prompt_tokens": reply.usage.prompt_tokens, "completion_tokens": reply.usage.completion_tokens},
            output=output,
        )

    def fail(self, code: str, message: str) -> None:
        self._end(RunSpan.Status.ERROR, error={"code": code, "message": capped(message, 2_000)[0]})

    def cancel(self) -> None:
        self._end(RunSpan.Status.CANCELLED)

    def _end(self, status: str, **facts: Any) -> None:
        if self.recorder.open_call is not self:
            return
        now = time.monotonic()
        self.attributes.update(facts)
        self.attributes["latency_ms"] = _ms(now - self._start)
        self.attributes["ttft_ms"] = _ms(self._first_token - self._attempt_start) if self._first_token else None
        self.attributes["retries"] = self.retries
        self.recorder.add(
            kind=RunSpan.Kind.MODEL_CALL,
            name=self.name,
            status=status,
            started_at=self.started_at,
            ended_at=self.started_at + timedelta(seconds=now - self._start),
            attributes=self.attributes,
            input=self.input,
        )
        self.recorder.open_call = None


class RunRecorder:
    """A worker turn's spans, kept in memory and written in one INSERT by ``flush`` (then exported over OTLP
    when configured). Disabled (``TRACE_RUNS=false``), every method is a cheap no-op."""

    def __init__(self, run: Run, *, enabled: bool | None = None) -> None:
        self.run = run
        self.enabled = tracing_enabled() if enabled is None else enabled
        self.spans: list[RunSpan] = []
        self.open_call: ModelCallTrace | None = None

    def add(self, **fields: Any) -> None:
        if self.enabled:
            self.spans.append(RunSpan(run_id=self.run.id, thread_id=self.run.thread_id, **fields))

    def queued(self, *, since: datetime | None, until: datetime | None) -> None:
        """The wait between being queued (created, or tool outputs submitted) and a worker claiming the run."""
        if since is None or until is None:
            return
        resumed = bool(self.run.attempts and self.run.attempts > 1) or since != self.run.created_at
        self.add(
            kind=RunSpan.Kind.QUEUE,
            name="queued",
            started_at=since,
            ended_at=max(until, since),
            attributes={"claim": self.run.attempts, "resumed": resumed},
        )

    def model_call(
        self,
        *,
        request: ModelRequest,
        connection: ModelConnection | None,
        deployment: str | None,
        truncation: dict[str, Any],
        turn: int,
        context_ms: int,
    ) -> ModelCallTrace:
        """Start a model call's span (ended by the returned trace's finish, fail or cancel)."""
        attributes: dict[str, Any] = {}
        messages: list[dict[str, Any]] = []
        if self.enabled:
            attributes = {
                "turn": turn,
                "model": request.model,
                "provider": connection.kind if connection is not None else "offline",
                "connection": (
                    {"id": connection.pk, "name": connection.name, "kind": connection.kind}
                    if connection is not None
                    else None
                ),
                "deployment": deployment,
                "parameters": _parameters(request, self.run),
                "tools": [_tool_name(t) for t in request.tools],
                "truncation": truncation,
                "message_count": len(request.messages),
                "context_ms": context_ms,
            }
            messages = input_record(request.messages)
        call = ModelCallTrace(self, name=f"chat {request.model}", attributes=attributes, input=messages)
        self.open_call = call
        return call

    def close_open_call(self, status: str, *, code: str = "", message: str = "") -> None:
        """End a model call the engine left by an exception (cancelled, failed, or a crash)."""
        call = self.open_call
        if call is None:
            return
        if status == RunSpan.Status.CANCELLED:
            call.cancel()
        else:
            call.fail(code, message)

    def pending(self) -> list[dict[str, Any]] | None:
        """The spans gathered so far as JSON, for the run's final UPDATE (``Run.trace_pending``): the next settle
        moves them to RunSpan with other runs' (services/usage.runs_settle). None when there are none. They stay
        here until ``handed_over``, so a transition that loses keeps them for ``flush``."""
        if not self.spans:
            return None
        return [span.pending_record() for span in self.spans]

    def handed_over(self) -> None:
        """The spans went out with the run's final status (``pending``); nothing is left to flush."""
        self.spans = []

    def flush(self) -> None:
        """Write the spans gathered so far (one INSERT) and hand them to the OpenTelemetry exporter."""
        if not self.spans:
            return
        spans, self.spans = self.spans, []
        try:
            RunSpan.objects.bulk_create(spans)
        except Exception:  # a trace is never worth failing the run for
            logger.exception("could not record the trace of run %s", self.run.id)
            return
        telemetry.spans_ended(self.run, spans)


def pending_spans_write(rows: list[dict[str, Any]]) -> None:
    """Move the pending spans of these runs (dicts with ``id``, ``thread_id``, ``trace_pending``) to RunSpan in
    one INSERT, inside the settle's transaction, and hand them to the OpenTelemetry exporter."""
    spans = [span for row in rows for span in RunSpan.from_pending(row["id"], row["thread_id"], row["trace_pending"])]
    if not spans:
        return
    RunSpan.objects.bulk_create(spans)
    if telemetry.enabled():
        runs = Run.objects.in_bulk({span.run_id for span in spans})
        for span in spans:
            telemetry.spans_ended(runs[span.run_id], [span])


def run_ended(run_id: str) -> None:
    """The run reached its final status: tell the OpenTelemetry exporter (the run is the trace's root span)."""
    if telemetry.enabled():
        run = Run.objects.select_related("agent").filter(pk=run_id).first()
        if run is not None:
            telemetry.run_ended(run)


def tool_spans_record(
    *, run: Run, step: RunStep, outputs: dict[str, str], actor: Actor, actor_label: str, now: datetime
) -> None:
    """The run's tool calls, now answered: one span each, from when the run asked to when outputs came."""
    if not tracing_enabled():
        return
    submitted_by = actor_label or (actor.get_username() if actor is not None and actor.is_authenticated else "")
    limit = _text_limit()
    spans = []
    for call in step.tool_calls:
        function = call.get("function") or {}
        arguments, arguments_cut = capped(str(function.get("arguments") or ""), limit)
        output, output_cut = capped(outputs.get(call.get("id"), ""), limit)
        spans.append(
            RunSpan(
                run_id=run.id,
                thread_id=run.thread_id,
                kind=RunSpan.Kind.TOOL_CALL,
                name=str(function.get("name") or call.get("type") or "tool"),
                started_at=step.created_at,
                ended_at=now,
                attributes={
                    "call_id": call.get("id"),
                    "type": call.get("type", "function"),
                    "arguments": arguments,
                    "arguments_omitted_chars": arguments_cut,
                    "output": output,
                    "output_omitted_chars": output_cut,
                    "submitted_by": submitted_by or "unknown",
                    "submitted_at": now.isoformat(),
                    "wait_ms": _ms((now - step.created_at).total_seconds()),
                    "step_id": step.id,
                },
            )
        )
    try:
        RunSpan.objects.bulk_create(spans)
    except Exception:
        logger.exception("could not record the tool calls of run %s", run.id)
        return
    telemetry.spans_ended(run, spans)


def _tool_name(tool: dict[str, Any]) -> dict[str, str]:
    kind = str(tool.get("type") or "")
    function = tool.get("function") if isinstance(tool.get("function"), dict) else None
    return {"type": kind, "name": str(function.get("name")) if function else kind}


def _parameters(request: ModelRequest, run: Run) -> dict[str, Any]:
    values: dict[str, Any] = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_completion_tokens": request.max_completion_tokens,
        "max_prompt_tokens": run.max_prompt_tokens,
        "tool_choice": request.tool_choice,
        "response_format": request.response_format,
        "parallel_tool_calls": request.parallel_tool_calls if request.tools else None,
    }
    return {key: value for key, value in values.items() if value is not None}
