"""The conversation markup the thread page and the run panel show (agents_admin/templatetags/conversation.py)."""

from __future__ import annotations

import pytest

from agents_admin.models import Message, RunStep
from agents_admin.selectors.conversation import message_page
from agents_admin.services.runs import run_execute, run_submit_tool_outputs
from agents_admin.templatetags.conversation import message_html, messages_html, steps_html
from tests.factories import WEATHER_TOOL, make_agent, make_message, make_run, make_thread

pytestmark = pytest.mark.django_db


def test_text_is_escaped_with_line_breaks_kept() -> None:
    thread = make_thread(messages=["<b>bold</b> & \"quoted\" 'single'\nsecond line"])
    html = messages_html(message_page(thread.id).messages)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; &#x27;single&#x27;<br>second line" in html
    assert "<b>" not in html
    assert html.startswith('<article hx-disable class="msg msg-user" id="msg_')
    assert "#1 · <time datetime=" in html


def test_image_parts_show_as_references_and_a_long_url_is_cut() -> None:
    thread = make_thread()
    message = make_message(thread, "look")
    url = "https://example.com/" + "x" * 200
    message.content = [
        {"type": "image_url", "image_url": {"url": url}},
        {"type": "image_file", "image_file": {"file_id": "assistant-abc"}},
        {"type": "text", "text": {"value": "caption"}},
    ]
    html = message_html(message, show_run=False)
    assert "[image: https://example.com/xxx" in html and url not in html and "…]" in html
    assert "[image file <code>assistant-abc</code>]" in html
    assert '<p class="msg-text">caption</p>' in html


def test_bad_shapes_in_stored_json_render_as_nothing_instead_of_failing_the_page() -> None:
    thread = make_thread()
    message = make_message(thread, "fallback text")
    message.content = ["not a part", {"type": "text", "text": "not a dict"}, {"type": "video"}]
    html = message_html(message, show_run=False)
    assert '<p class="msg-text"></p>' in html and "not a part" not in html
    step = RunStep(type=RunStep.Type.TOOL_CALLS, status="failed", step_details={"tool_calls": "oops"}, last_error={})
    assert '<ul class="tool-calls"></ul>' in steps_html([step])


def test_a_message_still_being_written_is_marked() -> None:
    thread = make_thread()
    message = make_message(thread, "partial")
    message.status = Message.Status.IN_PROGRESS
    html = message_html(message, show_run=False)
    assert 'class="msg msg-user msg-in_progress"' in html and " · in_progress</span>" in html
    assert 'aria-label="still writing"' in html


def test_the_history_shows_each_reply_with_its_run_status_and_tool_calls() -> None:
    agent = make_agent(tools=[WEATHER_TOOL])
    run = make_run(agent=agent, text='/tool get_weather {"city": "<Paris>"}')
    run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "requires_action"
    waiting = steps_html(run.steps.order_by("created_at", "id"))
    assert waiting.startswith('<ol class="steps" hx-disable>') and "awaiting output" in waiting
    assert "get_weather({&quot;city&quot;: &quot;&lt;Paris&gt;&quot;})" in waiting
    [call] = run.pending_tool_calls
    run_submit_tool_outputs(run=run, tool_outputs=[{"tool_call_id": call["id"], "output": "<sunny>"}])
    run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "completed"

    page = message_page(run.thread_id)
    history = messages_html(page.messages, show_run=True)
    [reply] = [m for m in page.messages if m.run_id]
    summary = f'<summary>Run <code>{run.id}</code> <span class="badge badge-completed">completed</span></summary>'
    assert f'<details class="msg-run">{summary}' in history
    assert "Tool Calls</span>" in history and "→ <code>&lt;sunny&gt;</code>" in history
    assert "awaiting output" not in history
    # The live run panel leaves the run's details out: it shows them itself.
    assert "msg-run" not in messages_html(page.messages)
    assert steps_html([]) == '<p class="muted">No steps yet.</p>'
    assert history.count("<article ") == len(page.messages) and reply.id in history


def test_the_page_records_hold_what_the_models_hold_on_this_database() -> None:
    agent = make_agent(tools=[WEATHER_TOOL])
    thread = make_thread(project=agent.project, messages=['après "quoted" ☃', '/tool get_weather {"city": "Oslo"}'])
    run = make_run(thread=thread, agent=agent)
    run_execute(run_id=run.id)

    page = message_page(thread.id, steps_also_for=run.id)
    stored = {m.id: m for m in Message.objects.filter(thread=thread)}
    assert [m.seq for m in page.messages] == sorted(m.seq for m in stored.values())
    for record in page.messages:
        model = stored[record.id]
        shown = (record.role, record.content, record.text, record.status, record.created_at, record.run_id)
        assert shown == (model.role, model.content, model.text, model.status, model.created_at, model.run_id)
        assert record.created_at.utcoffset() is not None
    [step] = page.steps[run.id]
    model_step = run.steps.get()
    assert (step.type, step.status, step.step_details, step.last_error) == (
        model_step.type,
        model_step.status,
        model_step.step_details,
        model_step.last_error,
    )
    assert isinstance(step.step_details, dict) and step.step_details["tool_calls"]
