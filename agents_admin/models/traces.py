"""Run traces: one span per unit of work a run did (waiting in the queue, each model call, each tool call).

The run itself is the trace's root and is read from the ``Run`` row; spans are written once, when they end,
in batches (services/traces.py): a finished turn's spans go out in its final UPDATE (``Run.trace_pending``) and
the next settle moves a batch of runs' spans here in one INSERT (services/usage.runs_settle). Spans go with their
run and thread (the foreign keys cascade, and the retention purge deletes them by thread).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models


class RunSpan(models.Model):
    class Kind(models.TextChoices):
        QUEUE = "queue", "queued"
        MODEL_CALL = "model_call", "model call"
        TOOL_CALL = "tool_call", "tool call"

    class Status(models.TextChoices):
        OK = "ok"
        ERROR = "error"
        CANCELLED = "cancelled"

    run = models.ForeignKey("Run", on_delete=models.CASCADE, related_name="spans")
    thread = models.ForeignKey("Thread", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    # Small, bounded facts: parameters, usage, timings, retries, errors, tool arguments and output (capped).
    attributes = models.JSONField(default=dict)
    # A model call's input messages as sent: stored once per call (not per retry), each message capped.
    input = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["run", "started_at"], name="runspan_run_started")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.kind}:{self.name}"

    def pending_record(self) -> dict[str, Any]:
        """This span as JSON, as a finished run carries it in ``Run.trace_pending`` until it is settled."""
        return {
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "attributes": self.attributes,
            "input": self.input,
        }

    @classmethod
    def from_pending(cls, run_id: str, thread_id: str, records: list[dict[str, Any]] | None) -> list[RunSpan]:
        """The spans a run carries in ``Run.trace_pending`` (``pending_record``), unsaved."""
        return [
            cls(
                run_id=run_id,
                thread_id=thread_id,
                kind=record["kind"],
                name=record["name"],
                status=record["status"],
                started_at=datetime.fromisoformat(record["started_at"]),
                ended_at=datetime.fromisoformat(record["ended_at"]),
                attributes=record.get("attributes") or {},
                input=record.get("input"),
            )
            for record in records or []
        ]

    @property
    def duration_ms(self) -> int:
        return max(round((self.ended_at - self.started_at).total_seconds() * 1000), 0)

    @property
    def error(self) -> dict[str, Any] | None:
        value = self.attributes.get("error") if isinstance(self.attributes, dict) else None
        return value if isinstance(value, dict) else None
