"""The run's trace in the console: its own page, the fragment the run panel and transcript open, the JSON."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from agents_admin.models import AuditEvent, Run
from agents_admin.roles import AUDITOR, REVIEWER
from agents_admin.services.runs import run_execute, run_submit_tool_outputs
from tests.factories import WEATHER_TOOL, make_agent, make_run
from tests.personas import client_for, user_with_role

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def tool_run() -> Run:
    """A finished run of two model calls with a tool call between them (offline model, in-process)."""
    run = make_run(agent=make_agent(tools=[WEATHER_TOOL]), text='/tool get_weather {"city": "Paris"}')
    run_execute(run_id=run.id)
    run.refresh_from_db()
    [call] = run.pending_tool_calls
    run_submit_tool_outputs(
        run=run, tool_outputs=[{"tool_call_id": call["id"], "output": "22C <b>sunny</b>"}], actor_label="api-key:k1"
    )
    run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


def trace_url(run: Run) -> str:
    return reverse("agents_admin:run_trace", args=[run.thread_id, run.id])


def test_the_trace_page_draws_the_waterfall_and_opens_each_span(admin_client: Client) -> None:
    run = tool_run()
    body = admin_client.get(trace_url(run)).content.decode()
    rows = [label for label in ("queued", "claimed by a worker", "model call 1", "tool call: get_weather",
                                "model call 2", "completed") if label in body]  # fmt: skip
    assert len(rows) == 6
    order = [body.index(label) for label in ("model call 1", "tool call: get_weather", "model call 2")]
    assert order == sorted(order)
    assert body.count('class="wf-bar"') == 5  # 2 waits in the queue, 2 model calls, 1 tool call
    assert "api-key:k1" in body and "22C &lt;b&gt;sunny&lt;/b&gt;" in body
    assert "What the model saw" in body and "Instructions" in body and "You are helpful." in body
    versions = reverse("agents_admin:agent_versions", args=[run.agent_ref])
    assert f'href="{versions}#v{run.agent_version}"' in body
    assert "Copy as JSON" in body and "<script>" not in body


def test_the_htmx_fragment_is_the_waterfall_alone_and_each_read_is_recorded(admin_client: Client) -> None:
    run = tool_run()
    body = admin_client.get(trace_url(run), **HX).content.decode()
    assert body.lstrip().startswith('<div class="trace"') and "<html" not in body
    admin_client.get(reverse("agents_admin:run_trace_json", args=[run.thread_id, run.id]))
    parts = [e.after for e in AuditEvent.objects.filter(action="thread.view", object_id=run.thread_id).order_by("pk")]
    assert parts == [{"part": "trace", "run": run.id}, {"part": "trace_json", "run": run.id}]


def test_the_run_page_opens_its_trace_and_the_transcript_can_expand_it(admin_client: Client) -> None:
    run = tool_run()
    body = admin_client.get(reverse("agents_admin:run_panel", args=[run.thread_id, run.id])).content.decode()
    assert 'id="trace" data-trace-url="' in body and "model call 2" in body
    thread_page = admin_client.get(reverse("agents_admin:thread_detail", args=[run.thread_id])).content.decode()
    assert f'data-trace-url="{trace_url(run)}"' in thread_page


def test_the_json_is_the_whole_trace(admin_client: Client) -> None:
    run = tool_run()
    response = admin_client.get(reverse("agents_admin:run_trace_json", args=[run.thread_id, run.id]))
    document = json.loads(response.content)
    assert document["run"]["id"] == run.id and document["run"]["status"] == "completed"
    kinds = [span["kind"] for span in document["spans"]]
    assert kinds == ["queue", "model_call", "tool_call", "queue", "model_call"]
    assert document["spans"][1]["input"][-1]["content"].startswith("/tool get_weather")
    assert document["spans"][2]["attributes"]["output"] == "22C <b>sunny</b>"
    download = admin_client.get(reverse("agents_admin:run_trace_json", args=[run.thread_id, run.id]), {"download": 1})
    assert download["Content-Disposition"] == f'attachment; filename="trace-{run.id}.json"'


def test_a_long_message_is_cut_for_display_with_a_way_to_see_it_all(admin_client: Client) -> None:
    run = make_run(text="start " + "x" * 2_000 + " end")
    run_execute(run_id=run.id)
    body = admin_client.get(trace_url(run)).content.decode()
    assert "Show all 2010 characters" in body and "x end" in body


def test_a_reviewer_sees_the_trace_without_the_agent_link_and_an_auditor_may_not() -> None:
    run = tool_run()
    reviewer = client_for(user_with_role(REVIEWER))
    body = reviewer.get(trace_url(run)).content.decode()
    assert "model call 1" in body and reverse("agents_admin:agent_versions", args=[run.agent_ref]) not in body
    auditor = client_for(user_with_role(AUDITOR))
    assert auditor.get(trace_url(run)).status_code == 403
    assert auditor.get(reverse("agents_admin:run_trace_json", args=[run.thread_id, run.id])).status_code == 403


def test_a_run_without_a_trace_says_so(admin_client: Client) -> None:
    run = make_run(text="Hello")  # queued, never executed
    body = admin_client.get(trace_url(run)).content.decode()
    assert "No trace recorded for this run yet." in body
