"""A run's trace in a real browser: the waterfall on the run page, a span opening to what the model saw, copy as
JSON, and the trace opening in place from the transcript. A real worker runs the run."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from agents_admin.models import Run
from tests.browser.conftest import axe_violations, screenshot
from tests.conftest import Worker, wait_for_status
from tests.factories import WEATHER_TOOL, make_agent

pytestmark = pytest.mark.browser


def test_the_waterfall_opens_on_the_run_page_and_from_the_transcript(signed_in: Any, celery_worker: Worker) -> None:
    page = signed_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    make_agent(name="Weather", tools=[WEATHER_TOOL])
    page.goto("/threads/new/")
    page.get_by_role("button", name="Create thread").click()
    page.wait_for_url("**/threads/thread_*/")
    page.get_by_role("textbox", name="Message").fill('/tool get_weather {"city": "Paris"}')
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_role("button", name="Start run").click()
    output = page.get_by_label("Output of get_weather")
    expect(output).to_be_visible(timeout=20_000)
    output.fill("22C and sunny")
    page.get_by_role("button", name="Submit tool outputs").click()
    run = Run.objects.order_by("-created_at").first()
    assert run is not None
    wait_for_status(run, "completed")

    # The run's own page: the waterfall, in order, each span with its duration.
    page.goto(f"/threads/{run.thread_id}/runs/{run.id}/")
    trace = page.locator("#trace .waterfall")
    expect(trace).to_be_visible()
    labels = [text.strip() for text in trace.locator(".wf-label").all_inner_texts()]
    assert labels[0] == "queued" and labels[1] == "claimed by a worker" and labels[-1] == "completed"
    assert [label for label in labels if label.startswith(("model call", "tool call"))] == [
        "model call 1: chat gpt-4o",
        "tool call: get_weather",
        "model call 2: chat gpt-4o",
    ]
    expect(trace.locator(".wf-duration").first).to_contain_text("ms")

    # A model call opens to what the model saw, as a conversation.
    trace.get_by_text("model call 2: chat gpt-4o").click()
    opened = trace.locator("details[open] .wf-detail")
    expect(opened).to_contain_text("What the model saw")
    expect(opened.locator(".trace-msg.trace-tool")).to_contain_text("22C and sunny")
    expect(opened.locator(".trace-msg.trace-system")).to_contain_text("You are helpful.")
    screenshot(page, "run-trace")
    assert axe_violations(page) == []

    # Copy as JSON puts the whole trace on the clipboard.
    page.get_by_role("button", name="Copy as JSON").click()
    expect(page.locator("#trace .copy-status")).to_have_text("Copied.")
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["run"]["id"] == run.id
    assert [s["kind"] for s in copied["spans"]] == ["queue", "model_call", "tool_call", "queue", "model_call"]

    # From the transcript: once the conversation moved on, the answer's run details open its trace in place.
    page.goto(f"/threads/{run.thread_id}/")
    page.get_by_role("textbox", name="Message").fill("Thanks!")
    page.get_by_role("button", name="Send", exact=True).click()
    answer = page.locator("#history article.msg-assistant").last
    answer.locator("details.msg-run > summary").click()
    answer.locator("details.msg-trace > summary").click()
    expect(answer.locator(".msg-trace .waterfall .wf-row")).to_have_count(len(labels))
    expect(answer.locator(".msg-trace")).to_contain_text("tool call: get_weather")
