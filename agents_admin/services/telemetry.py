"""OpenTelemetry export of run traces, following the GenAI semantic conventions.

On only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set: unset, nothing
of OpenTelemetry is imported and every call returns after one environment lookup.

A run is one trace: an ``invoke_agent`` span (the run, exported when it ends) with a ``chat`` span per model
call and an ``execute_tool`` span per tool call, exported as each is recorded. Message content (input and output
messages, instructions, tool arguments and results) is added only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is true, as the conventions advise: it may hold personal
data. A failed export is logged and never reaches the run.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents_admin.lib.otel import SpanRecord
    from agents_admin.models import Run, RunSpan

logger = logging.getLogger(__name__)

CONTENT_FLAG = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# gen_ai.provider.name: the conventions' well-known values where one fits.
PROVIDER_NAMES = {"azure_openai": "azure.ai.openai", "openai_compatible": "openai", "offline": "agents_admin.offline"}


def enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def capture_content() -> bool:
    return os.environ.get(CONTENT_FLAG, "").strip().lower() in ("1", "true", "yes", "on")


def spans_ended(run: Run, spans: list[RunSpan]) -> None:
    """Spans of ``run`` that were just written: its model calls and tool calls go out as chat/execute_tool."""
    if not enabled():
        return
    try:
        from agents_admin.lib import otel

        content = capture_content()
        otel.export([record for span in spans if (record := _record(run, span, content=content)) is not None])
    except Exception:
        logger.exception("could not export the trace of run %s", run.id)


def run_ended(run: Run) -> None:
    """``run`` reached its final status: its invoke_agent span, the trace's root, goes out."""
    if not enabled():
        return
    try:
        from agents_admin.lib import otel

        otel.export([_root(run)])
    except Exception:
        logger.exception("could not export the run span of run %s", run.id)


def flush() -> None:
    """Send what is queued now (tests; the exporter also flushes at exit)."""
    if enabled():
        from agents_admin.lib import otel

        otel.flush()


def _common(run: Run) -> dict[str, Any]:
    return {
        "gen_ai.conversation.id": run.thread_id,
        "gen_ai.agent.id": run.agent_ref,
        "agents_admin.run.id": run.id,
    }


def _root(run: Run) -> SpanRecord:
    from agents_admin.lib.otel import SpanRecord
    from agents_admin.selectors.traces import run_end

    name = run.agent.name if run.agent_id and run.agent else run.agent_ref
    error = (run.last_error or {}).get("code") if run.status in ("failed", "expired") else None
    if run.status == "expired":
        error = error or "expired"
    return SpanRecord(
        trace_key=run.id,
        span_key=f"{run.id}:run",
        parent_key=None,
        name=f"invoke_agent {name}",
        kind="internal",
        started_at=run.created_at,
        ended_at=run_end(run) or run.created_at,
        attributes={
            **_common(run),
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
            "gen_ai.agent.version": str(run.agent_version),
            "gen_ai.request.model": run.model,
            "gen_ai.usage.input_tokens": run.prompt_tokens,
            "gen_ai.usage.output_tokens": run.completion_tokens,
            "agents_admin.run.status": run.status,
            "error.type": error,
        },
        error=error,
    )


def _record(run: Run, span: RunSpan, *, content: bool) -> SpanRecord | None:
    from agents_admin.lib.otel import SpanEvent, SpanRecord
    from agents_admin.models import RunSpan

    attrs = span.attributes if isinstance(span.attributes, dict) else {}
    error = (span.error or {}).get("code") or ("cancelled" if span.status == RunSpan.Status.CANCELLED else None)
    common: dict[str, Any] = {
        "trace_key": run.id,
        "span_key": f"{run.id}:{span.kind}:{span.pk}",
        "parent_key": f"{run.id}:run",
        "started_at": span.started_at,
        "ended_at": span.ended_at,
        "error": str(error) if error else None,
    }
    if span.kind == RunSpan.Kind.MODEL_CALL:
        parameters = attrs.get("parameters") or {}
        usage = attrs.get("usage") or {}
        connection = attrs.get("connection") or {}
        truncation = attrs.get("truncation") or {}
        attributes: dict[str, Any] = {
            **_common(run),
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER_NAMES.get(str(attrs.get("provider")), str(attrs.get("provider"))),
            "gen_ai.request.model": attrs.get("model"),
            "gen_ai.request.temperature": parameters.get("temperature"),
            "gen_ai.request.top_p": parameters.get("top_p"),
            "gen_ai.request.max_tokens": parameters.get("max_completion_tokens"),
            "gen_ai.response.finish_reasons": [attrs["finish_reason"]] if attrs.get("finish_reason") else None,
            "gen_ai.usage.input_tokens": usage.get("prompt_tokens"),
            "gen_ai.usage.output_tokens": usage.get("completion_tokens"),
            "error.type": error,
            "agents_admin.connection.name": connection.get("name"),
            "agents_admin.deployment": attrs.get("deployment"),
            "agents_admin.tools": [t.get("name") for t in attrs.get("tools") or [] if isinstance(t, dict)],
            "agents_admin.truncation.dropped": truncation.get("dropped"),
            "agents_admin.truncation.reason": truncation.get("reason"),
            "agents_admin.time_to_first_token_ms": attrs.get("ttft_ms"),
        }
        if content:
            attributes.update(_chat_content(span))
        events = [
            SpanEvent(
                "agents_admin.retry",
                _moment(retry.get("at"), span.started_at),
                {"error.type": retry.get("code"), "attempt": retry.get("attempt"), "wait_ms": retry.get("wait_ms")},
            )
            for retry in attrs.get("retries") or []
            if isinstance(retry, dict)
        ]
        return SpanRecord(
            name=f"chat {attrs.get('model')}", kind="client", attributes=attributes, events=events, **common
        )
    if span.kind == RunSpan.Kind.TOOL_CALL:
        attributes = {
            **_common(run),
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": span.name,
            "gen_ai.tool.call.id": attrs.get("call_id"),
            "gen_ai.tool.type": attrs.get("type") or "function",
            "agents_admin.tool.submitted_by": attrs.get("submitted_by"),
            "error.type": error,
        }
        if content:
            attributes["gen_ai.tool.call.arguments"] = attrs.get("arguments")
            attributes["gen_ai.tool.call.result"] = attrs.get("output")
        return SpanRecord(name=f"execute_tool {span.name}", kind="internal", attributes=attributes, **common)
    return None  # time in the queue is this service's own, not a GenAI operation


def _chat_content(span: RunSpan) -> dict[str, str]:
    """gen_ai.system_instructions, gen_ai.input.messages and gen_ai.output.messages, as the conventions' JSON."""
    messages = [m for m in span.input or [] if isinstance(m, dict)]
    system = [{"type": "text", "content": m.get("content", "")} for m in messages if m.get("role") == "system"]
    inputs = [_message(m) for m in messages if m.get("role") != "system"]
    output = (span.attributes or {}).get("output") or {}
    parts: list[dict[str, Any]] = []
    if output.get("text"):
        parts.append({"type": "text", "content": output["text"]})
    for call in output.get("tool_calls") or []:
        parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name"),
                      "arguments": call.get("arguments")})  # fmt: skip
    finish = (span.attributes or {}).get("finish_reason") or ""
    values = {
        "gen_ai.system_instructions": json.dumps(system) if system else "",
        "gen_ai.input.messages": json.dumps(inputs),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": parts, "finish_reason": finish}]),
    }
    return {key: value for key, value in values.items() if value}


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role = str(message.get("role") or "user")
    parts: list[dict[str, Any]] = []
    if role == "tool":
        parts.append({"type": "tool_call_response", "id": message.get("tool_call_id"),
                      "response": message.get("content", "")})  # fmt: skip
    elif message.get("content"):
        parts.append({"type": "text", "content": message["content"]})
    for call in message.get("tool_calls") or []:
        parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name"),
                      "arguments": call.get("arguments")})  # fmt: skip
    return {"role": role, "parts": parts}


def _moment(value: Any, default: Any) -> Any:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return default
