"""Reads of a run's trace: the waterfall the run page draws, and the whole trace as one JSON document."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from agents_admin.models import Run, RunSpan, RunStep

# The waterfall's drawing width in SVG user units (bars are drawn with x/width attributes: CSP allows no styles).
SCALE = 1000
# Every bar stays visible, however short next to the run.
MIN_BAR = 3


@dataclass
class TraceRow:
    """One line of the waterfall: a span, a wait still open (tool outputs not yet submitted), or an event."""

    kind: str  # queue | model_call | tool_call | tool_wait | event
    label: str
    status: str
    started_at: datetime
    ended_at: datetime
    span: RunSpan | None = None
    step: RunStep | None = None
    x: int = 0
    width: int = 0
    open: bool = False  # still running (drawn to "now")

    @property
    def duration_ms(self) -> int:
        return max(round((self.ended_at - self.started_at).total_seconds() * 1000), 0)


@dataclass
class RunTrace:
    run: Run
    rows: list[TraceRow]
    started_at: datetime
    ended_at: datetime
    finished: bool
    spans: list[RunSpan] = field(default_factory=list)

    @property
    def total_ms(self) -> int:
        return max(round((self.ended_at - self.started_at).total_seconds() * 1000), 0)

    @property
    def model_calls(self) -> list[RunSpan]:
        return [s for s in self.spans if s.kind == RunSpan.Kind.MODEL_CALL]

    @property
    def last_input(self) -> list[dict[str, Any]]:
        """What the model saw last: the input of the latest model call."""
        calls = self.model_calls
        return list(calls[-1].input or []) if calls else []


def run_end(run: Run) -> datetime | None:
    """When the run reached its final status (None while it is unfinished)."""
    if not run.is_terminal:
        return None
    ends = [run.completed_at, run.failed_at, run.cancelled_at]
    return next((end for end in ends if end is not None), None) or run.expires_at


def run_trace(run: Run) -> RunTrace:
    """The waterfall of ``run``: its spans in order with the moments between them (claimed, and the end), and any
    tool calls still waiting for outputs. Two queries: the spans, and the tool-call steps."""
    # A finished run not settled yet still carries its spans in its own row (services/usage.runs_settle).
    pending = RunSpan.from_pending(run.id, run.thread_id, run.trace_pending)
    spans = sorted([*RunSpan.objects.filter(run=run), *pending], key=lambda span: (span.started_at, span.id or 0))
    answered = {str(s.attributes.get("step_id")) for s in spans if s.kind == RunSpan.Kind.TOOL_CALL}
    waiting = list(
        RunStep.objects.filter(run=run, type=RunStep.Type.TOOL_CALLS)
        .exclude(pk__in=answered)
        .only("id", "status", "step_details", "created_at", "cancelled_at", "expired_at", "failed_at")
    )
    now = timezone.now()
    end = run_end(run)
    rows: list[TraceRow] = []
    for span in spans:
        rows.append(TraceRow(span.kind, _label(span), span.status, span.started_at, span.ended_at, span=span))
        if span.kind == RunSpan.Kind.QUEUE:
            rows.append(TraceRow("event", "claimed by a worker", "ok", span.ended_at, span.ended_at))
    for step in waiting:
        stopped = step.cancelled_at or step.expired_at or step.failed_at
        names = ", ".join(str((c.get("function") or {}).get("name") or c.get("type")) for c in step.tool_calls)
        rows.append(
            TraceRow(
                "tool_wait",
                f"waiting for tool outputs: {names}",
                "ok" if stopped is None else str(step.status),
                step.created_at,
                stopped or end or now,
                step=step,
                open=stopped is None and end is None,
            )
        )
    if end is not None:
        rows.append(TraceRow("event", str(run.status), str(run.status), end, end))
    rows.sort(key=lambda row: (row.started_at, row.kind == "event" and row.label != "claimed by a worker"))
    start = run.created_at
    stop = max([end or now, *(row.ended_at for row in rows)])
    _place(rows, start, stop)
    return RunTrace(run=run, rows=rows, started_at=start, ended_at=stop, finished=end is not None, spans=spans)


def _label(span: RunSpan) -> str:
    if span.kind == RunSpan.Kind.MODEL_CALL:
        turn = span.attributes.get("turn")
        return f"model call {turn}: {span.name}" if turn else span.name
    if span.kind == RunSpan.Kind.TOOL_CALL:
        return f"tool call: {span.name}"
    return span.name


def _place(rows: list[TraceRow], start: datetime, stop: datetime) -> None:
    total = max((stop - start).total_seconds(), 1e-6)
    for row in rows:
        x = round((row.started_at - start).total_seconds() / total * SCALE)
        width = round((row.ended_at - row.started_at).total_seconds() / total * SCALE)
        row.x = min(max(x, 0), SCALE - MIN_BAR)
        row.width = max(min(width, SCALE - row.x), MIN_BAR)


def trace_document(run: Run) -> dict[str, Any]:
    """The whole trace as JSON: the run (root) and every span with everything stored for it."""
    trace = run_trace(run)
    return {
        "object": "run.trace",
        "run": {
            "id": run.id,
            "thread_id": run.thread_id,
            "agent_id": run.agent_ref,
            "agent_version": run.agent_version,
            "model": run.model,
            "status": run.status,
            "created_at": _iso(run.created_at),
            "ended_at": _iso(run_end(run)),
            "duration_ms": trace.total_ms if trace.finished else None,
            "usage": {
                "prompt_tokens": run.prompt_tokens,
                "completion_tokens": run.completion_tokens,
                "total_tokens": run.total_tokens,
            },
            "last_error": run.last_error,
            "incomplete_details": run.incomplete_details,
        },
        "spans": [
            {
                "kind": span.kind,
                "name": span.name,
                "status": span.status,
                "started_at": _iso(span.started_at),
                "ended_at": _iso(span.ended_at),
                "duration_ms": span.duration_ms,
                "attributes": span.attributes,
                "input": span.input,
            }
            for span in trace.spans
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
