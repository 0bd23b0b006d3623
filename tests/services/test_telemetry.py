"""OpenTelemetry export: a real OTLP/HTTP collector on 127.0.0.1 receives the runs' spans (protobuf), with the
GenAI semantic conventions' attributes; message content only when opted in; nothing imported when off."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from agents_admin.models import Run
from agents_admin.services import telemetry
from agents_admin.services.runs import run_execute, run_submit_tool_outputs
from tests.conftest import wait_for
from tests.factories import WEATHER_TOOL, make_agent, make_run

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


class Collector(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def named(self, prefix: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.spans if s["name"].startswith(prefix)]


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        with self.server.lock:
            self.server.paths.append(self.path)
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.server.spans.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano,
                                "status": span.status.code,
                                "attributes": {a.key: _value(a.value) for a in span.attributes},
                                "events": [
                                    (e.name, {a.key: _value(a.value) for a in e.attributes}) for e in span.events
                                ],
                                "resource": resource,
                            }
                        )
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "agents-admin-test")
    yield server
    server.shutdown()
    server.server_close()


def tool_run() -> Run:
    run = make_run(agent=make_agent(name="Forecaster", tools=[WEATHER_TOOL]), text='/tool get_weather {"city": "Rome"}')
    run_execute(run_id=run.id)
    run.refresh_from_db()
    [call] = run.pending_tool_calls
    run_submit_tool_outputs(
        run=run, tool_outputs=[{"tool_call_id": call["id"], "output": "25C"}], actor_label="api-key:k9"
    )
    run_execute(run_id=run.id)
    run.refresh_from_db()
    telemetry.flush()
    return run


def test_a_run_arrives_as_one_trace_with_the_genai_attributes_and_no_content(collector: Collector) -> None:
    run = tool_run()
    [root] = wait_for(lambda: collector.named("invoke_agent"))
    chats = wait_for(lambda: len(collector.named("chat ")) == 2 and collector.named("chat "))
    [tool] = collector.named("execute_tool")
    assert collector.paths[0] == "/v1/traces"
    assert root["name"] == "invoke_agent Forecaster" and root["parent"] == ""
    assert root["resource"]["service.name"] == "agents-admin-test"
    assert root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert root["attributes"]["gen_ai.agent.id"] == run.agent_ref
    assert root["attributes"]["gen_ai.conversation.id"] == run.thread_id
    assert root["attributes"]["gen_ai.usage.input_tokens"] == run.prompt_tokens
    for span in [*chats, tool]:
        assert span["trace_id"] == root["trace_id"] and span["parent"] == root["span_id"]
        assert root["start"] <= span["start"] <= span["end"] <= root["end"]
    first, second = sorted(chats, key=lambda s: s["start"])
    assert first["name"] == "chat gpt-4o"
    assert first["attributes"]["gen_ai.operation.name"] == "chat"
    assert first["attributes"]["gen_ai.provider.name"] == "agents_admin.offline"
    assert first["attributes"]["gen_ai.request.model"] == "gpt-4o"
    assert first["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert second["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert first["attributes"]["gen_ai.usage.output_tokens"] > 0
    assert tool["name"] == "execute_tool get_weather"
    assert tool["attributes"]["gen_ai.operation.name"] == "execute_tool"
    assert tool["attributes"]["gen_ai.tool.name"] == "get_weather"
    assert tool["attributes"]["gen_ai.tool.call.id"].startswith("call_")
    content_keys = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                    "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}  # fmt: skip
    for span in [root, *chats, tool]:
        assert not content_keys & set(span["attributes"]), span["name"]


def test_message_content_is_exported_only_when_opted_in(collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(telemetry.CONTENT_FLAG, "true")
    tool_run()
    chats = wait_for(lambda: len(collector.named("chat ")) == 2 and collector.named("chat "))
    first = min(chats, key=lambda s: s["start"])
    assert '"/tool get_weather' in first["attributes"]["gen_ai.input.messages"]
    assert "You are helpful." in first["attributes"]["gen_ai.system_instructions"]
    assert '"get_weather"' in first["attributes"]["gen_ai.output.messages"]
    [tool] = wait_for(lambda: collector.named("execute_tool"))
    assert tool["attributes"]["gen_ai.tool.call.arguments"] == '{"city": "Rome"}'
    assert tool["attributes"]["gen_ai.tool.call.result"] == "25C"


def test_a_failed_run_is_an_error_trace(collector: Collector) -> None:
    run = make_run(text="please /fail")
    run_execute(run_id=run.id)
    telemetry.flush()
    [root] = wait_for(lambda: collector.named("invoke_agent"))
    [chat] = wait_for(lambda: collector.named("chat "))
    assert root["status"] == chat["status"] == 2  # STATUS_CODE_ERROR
    assert root["attributes"]["error.type"] == chat["attributes"]["error.type"] == "offline_model_failure"


def test_off_by_default_nothing_of_opentelemetry_is_imported() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="dashboard.settings")
    code = (
        "import django, sys; django.setup();"
        "from agents_admin.services import runs, traces, telemetry, stores;"
        "from agents_admin import tasks;"
        "telemetry.spans_ended(None, []); telemetry.run_ended(None);"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
