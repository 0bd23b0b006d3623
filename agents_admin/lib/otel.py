"""Export finished spans over OTLP/HTTP with the official OpenTelemetry SDK. Framework-free.

Spans arrive already finished (the run engine records them as they end), so they are built as ``ReadableSpan``s
with their own ids and times and handed to a ``BatchSpanProcessor``: no tracer, no context propagation, no
global provider. One processor per process (made again after a fork, so a Celery prefork child never shares its
parent's export thread). Configuration is OpenTelemetry's own environment: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``.

This module imports the SDK at its top: import it only when an endpoint is set.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

SCOPE = InstrumentationScope("agents_admin.runs")
DEFAULT_SERVICE_NAME = "agents-admin"


@dataclass(frozen=True)
class SpanEvent:
    name: str
    at: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanRecord:
    """One finished span: ``trace_key`` names its trace, ``span_key`` the span and ``parent_key`` its parent
    (the ids are derived from them, so a parent written later still matches its children)."""

    trace_key: str
    span_key: str
    parent_key: str | None
    name: str
    kind: str  # "client" | "internal"
    started_at: datetime
    ended_at: datetime
    attributes: Mapping[str, Any]
    error: str | None = None  # the error type; the span's status is then ERROR
    events: Sequence[SpanEvent] = ()


def _id(key: str, size: int) -> int:
    value = int.from_bytes(hashlib.sha256(key.encode()).digest()[:size], "big")
    return value or 1  # zero is the invalid id


def trace_id(trace_key: str) -> int:
    return _id(f"trace:{trace_key}", 16)


def span_id(span_key: str) -> int:
    return _id(f"span:{span_key}", 8)


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """OpenTelemetry attribute values: primitives or lists of them; None left out."""
    cleaned: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = [v for v in value if isinstance(v, str | bool | int | float)]
        elif not isinstance(value, str | bool | int | float):
            value = str(value)
        cleaned[key] = value
    return cleaned


def readable(record: SpanRecord, resource: Resource) -> ReadableSpan:
    trace = trace_id(record.trace_key)
    context = SpanContext(trace, span_id(record.span_key), is_remote=False, trace_flags=TraceFlags(1))
    parent = (
        SpanContext(trace, span_id(record.parent_key), is_remote=False, trace_flags=TraceFlags(1))
        if record.parent_key
        else None
    )
    status = Status(StatusCode.ERROR, record.error) if record.error else Status(StatusCode.UNSET)
    return ReadableSpan(
        name=record.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=_clean(record.attributes),
        events=[Event(e.name, _clean(e.attributes), timestamp=_nanos(e.at)) for e in record.events],
        kind=SpanKind.CLIENT if record.kind == "client" else SpanKind.INTERNAL,
        status=status,
        start_time=_nanos(record.started_at),
        end_time=_nanos(max(record.ended_at, record.started_at)),
        instrumentation_scope=SCOPE,
    )


class _Exporter:
    def __init__(self) -> None:
        attributes = {SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME}
        self.resource = Resource.create(attributes)  # also reads OTEL_RESOURCE_ATTRIBUTES
        self.processor = BatchSpanProcessor(OTLPSpanExporter())

    def export(self, records: Sequence[SpanRecord]) -> None:
        for record in records:
            self.processor.on_end(readable(record, self.resource))


_lock = threading.Lock()
_exporter: tuple[int, str, _Exporter] | None = None


def _endpoint() -> str:
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or ""


def _current() -> _Exporter:
    global _exporter
    with _lock:
        endpoint = _endpoint()
        if _exporter is None or _exporter[0] != os.getpid() or _exporter[1] != endpoint:
            if _exporter is not None and _exporter[0] == os.getpid():
                _exporter[2].processor.shutdown()
            _exporter = (os.getpid(), endpoint, _Exporter())
        return _exporter[2]


def export(records: Sequence[SpanRecord]) -> None:
    """Queue ``records`` for export; the processor's thread sends them in batches."""
    if records:
        _current().export(records)


def flush(timeout_millis: int = 10_000) -> bool:
    """Send whatever is queued now (at exit, and for tests)."""
    with _lock:
        current = _exporter
    if current is None or current[0] != os.getpid():
        return True
    return current[2].processor.force_flush(timeout_millis)


atexit.register(flush)
