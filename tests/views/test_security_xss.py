"""Untrusted content renders inert: an XSS corpus through every place the console shows stored text.

Message content, agent names and descriptions, metadata keys and values, tool call arguments and outputs and a
run's last error all carry the corpus; every page that shows them is parsed, and no element, attribute or URL may
come from a payload (each payload carries the marker "xss-")."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents_admin.errors import InvalidInput
from agents_admin.models import Agent, Run, RunSpan, RunStep, Thread
from agents_admin.services.audit import audit_record
from agents_admin.services.threads import message_create
from tests.factories import make_agent, make_message, make_run, make_thread

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}

CORPUS = [
    "<script>alert('xss-1')</script>",
    "<img src=x onerror=alert('xss-2')>",
    "<svg onload=alert('xss-3')>",
    '"><iframe src="javascript:alert(\'xss-4\')"></iframe>',
    "[click me](javascript:alert('xss-5'))",
    "<a href=\"javascript:alert('xss-6')\">link</a>",
    '<div hx-get="/xss-7" hx-trigger="load" hx-swap="outerHTML">htmx</div>',
    '<button hx-post="/logout/" hx-trigger="revealed" data-hx-target="body" id="xss-8">x</button>',
    '<p onmouseover="alert(\'xss-9\')" style="position:fixed">hover</p>',
    "' onfocus='alert(1)' autofocus data-x='xss-10",
    "{{ request }}{% csrf_token %}<b>xss-11</b>",
    "control\x01\x07\x08\x0b\x0c\x1b[31m\u202e\u2028\u2029 chars <i>xss-12</i>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('xss-13')>",
    # Markdown, which message text is rendered as: links and images to hostile URLs, HTML nested in Markdown.
    "![xss-14](javascript:alert(1)) [a](data:text/html;base64,PHNjcmlwdD4=) <javascript:alert('xss-15')>",
    "**<img src=x onerror=alert('xss-16')>** `<script>xss-17</script>` [ok](https://example.com/page) xss-18",
    "> <div hx-get='/xss-19'>quoted</div>\n\n```html\n<script>alert('xss-20')</script>\n```",
]
DATA_ATTRIBUTES = {"value", "title", "aria-label", "placeholder"}
HUGE = "<img src=x onerror=alert('xss-huge')>" * 3000  # ~110 kB


class PayloadFinder(HTMLParser):
    """Flags any element that a payload created (a tag whose attributes mention the marker), any event handler,
    any javascript: URL, and any htmx attribute pointing at a payload."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            text = (value or "").strip().lower()
            # Escaped data may sit in a form field's value; anywhere else the marker means a payload made markup.
            # "xss-" with its hyphen: random ids (letters and digits) sometimes spell "xss", never "xss-".
            if "xss" in name.lower() or ("xss-" in text and name not in DATA_ATTRIBUTES):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction") and text.startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        # The run trace's waterfall tracks are the console's own SVG (class "wf-track"); any other is a payload's.
        if tag == "svg" and dict(attrs).get("class") == "wf-track":
            return
        if tag in ("iframe", "svg", "math", "style", "img") or (tag == "script" and not dict(attrs).get("src")):
            self.found.append(f"<{tag}> element")


def unsafe(body: str) -> list[str]:
    finder = PayloadFinder()
    finder.feed(body)
    return finder.found


def payload(i: int) -> str:
    return CORPUS[i % len(CORPUS)]


@pytest.fixture
def poisoned() -> dict[str, str]:
    """Every displayed field filled from the corpus."""
    agent = make_agent(
        name=payload(1)[:256],
        description=payload(2),
        metadata={payload(i)[:64]: payload(i + 3)[:512] for i in range(5)},
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    )
    thread = make_thread(metadata={payload(i)[:64]: payload(i + 6)[:512] for i in range(8)})
    for text in [*CORPUS, HUGE]:
        make_message(thread, text)
        make_message(thread, text, role="assistant")
    # A finished run with an error and a tool call whose arguments and output come from the corpus.
    run = make_run(thread=thread, agent=agent)
    calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": "lookup", "arguments": p, "output": payload(i + 1)},
        }
        for i, p in enumerate(CORPUS)
    ]
    RunStep.objects.create(
        run=run, thread=thread, type="tool_calls", status="completed", step_details={"tool_calls": calls}
    )
    Run.objects.filter(pk=run.pk).update(status="failed", last_error={"code": payload(0), "message": payload(1)})
    # Its trace: a model call that saw the corpus, retried and failed, and a tool call answered with it.
    now = timezone.now()
    RunSpan.objects.create(
        run=run, thread=thread, kind="model_call", name=payload(2)[:200], status="error", started_at=now,
        ended_at=now, input=[{"role": "user", "content": p} for p in [*CORPUS, HUGE]],
        attributes={
            "turn": 1, "model": payload(3), "connection": {"id": 1, "name": payload(4), "kind": payload(5)},
            "deployment": payload(6), "parameters": {payload(7)[:40]: payload(8)},
            "tools": [{"type": "function", "name": payload(9)}],
            "truncation": {"strategy": payload(10), "dropped": 1, "reason": payload(11), "kept": 1},
            "retries": [{"attempt": 1, "code": payload(12), "message": payload(0), "wait_ms": 5}],
            "error": {"code": payload(1), "message": payload(2)},
            "output": {
                "text": payload(3), "tool_calls": [{"id": payload(4), "name": payload(5), "arguments": payload(6)}]
            },
        },
    )  # fmt: skip
    RunSpan.objects.create(
        run=run, thread=thread, kind="tool_call", name=payload(7)[:200], started_at=now, ended_at=now,
        attributes={"arguments": payload(8), "output": HUGE, "submitted_by": payload(9), "call_id": payload(10)},
    )  # fmt: skip
    # A second thread whose run waits on tool calls with hostile arguments (the tool output form shows them).
    waiting_thread = make_thread(messages=["hello"])
    waiting = make_run(thread=waiting_thread, agent=agent)
    pending = [
        {"id": f"call_w{i}", "type": "function", "function": {"name": "lookup", "arguments": p}}
        for i, p in enumerate(CORPUS)
    ]
    Run.objects.filter(pk=waiting.pk).update(
        status="requires_action", required_action={"submit_tool_outputs": {"tool_calls": pending}}
    )
    RunStep.objects.create(run=waiting, thread=waiting_thread, type="tool_calls", step_details={"tool_calls": pending})
    audit_record(action="agent.update", actor_label=payload(5), object_id=agent.id, after={"name": payload(1)})
    return {"agent_id": agent.id, "thread_id": thread.id, "run_id": run.id, "waiting_thread": waiting_thread.id}


def test_the_corpus_is_stored_as_given(poisoned: dict[str, str]) -> None:
    """The test only means something if the hostile text really reached the database."""
    assert Agent.objects.get(pk=poisoned["agent_id"]).name == payload(1)
    assert Thread.objects.get(pk=poisoned["thread_id"]).message_count == 2 * (len(CORPUS) + 1)


def test_the_finder_sees_each_kind_of_payload_when_unescaped() -> None:
    flagged = unsafe("".join(CORPUS))
    for marker in ("<script>", "xss-2", "xss-3", "xss-4", "xss-6", "xss-7", "xss-8", "xss-9", "<style>", "onerror"):
        assert any(marker in f for f in flagged), marker


def test_no_payload_becomes_markup_on_any_page(admin_client: Client, poisoned: dict[str, str]) -> None:
    thread, run, agent = poisoned["thread_id"], poisoned["run_id"], poisoned["agent_id"]
    pages = [
        reverse("agents_admin:thread_detail", args=[thread]),
        reverse("agents_admin:run_panel", args=[thread, run]),
        reverse("agents_admin:run_trace", args=[thread, run]),
        reverse("agents_admin:thread_detail", args=[poisoned["waiting_thread"]]),
        reverse("agents_admin:thread_list"),
        # Search hits (highlighted snippets) and the filters-only thread table.
        reverse("agents_admin:search") + "?q=xss",
        reverse("agents_admin:search") + "?project=" + Thread.objects.get(pk=thread).project.name,
        reverse("agents_admin:agent_list"),
        reverse("agents_admin:agent_edit", args=[agent]),
        reverse("agents_admin:agent_versions", args=[agent]),
        reverse("agents_admin:home"),
        reverse("agents_admin:needs_action"),
        reverse("agents_admin:audit_list"),
    ]
    problems = []
    for url in pages:
        for headers in ({}, HX):
            response = admin_client.get(url, **headers)
            assert response.status_code in (200, 286), url
            body = response.content.decode()
            problems += [f"{url}: {p}" for p in unsafe(body)]
    assert problems == []


def test_messages_and_tool_calls_sit_inside_hx_disable(admin_client: Client, poisoned: dict[str, str]) -> None:
    body = admin_client.get(reverse("agents_admin:thread_detail", args=[poisoned["thread_id"]])).content.decode()
    assert body.count("<article hx-disable") >= len(CORPUS)
    assert '<ol class="steps" hx-disable>' in body
    # escaped, visible as text
    assert "&lt;script&gt;alert(&#x27;xss-1&#x27;)&lt;/script&gt;" in body


def test_control_characters_and_huge_text_render_without_breaking_the_page(
    admin_client: Client, poisoned: dict[str, str]
) -> None:
    body = admin_client.get(reverse("agents_admin:thread_detail", args=[poisoned["thread_id"]])).content.decode()
    assert body.rstrip().endswith("</html>")
    assert "xss-huge" in body and "&lt;img src=x onerror" in body


def test_a_nul_character_is_refused_as_bad_input_not_a_server_error(admin_client: Client) -> None:
    """PostgreSQL text cannot hold NUL: the forms and, for the API, the services refuse it, naming the field."""
    thread = make_thread()
    response = admin_client.post(reverse("agents_admin:message_add", args=[thread.id]), {"content": "a\x00b"})
    assert response.status_code == 200 and "Null characters are not allowed" in response.content.decode()
    for call in (
        lambda: message_create(thread=thread, role="user", content="a\x00b"),
        lambda: message_create(thread=thread, role="user", content=[{"type": "text", "text": "\x00"}]),
        lambda: make_agent(name="x\x00"),
        lambda: make_thread(metadata={"k": "v\x00"}),
    ):
        with pytest.raises(InvalidInput, match="NUL"):
            call()
    assert Thread.objects.get(pk=thread.pk).message_count == 0 and not Agent.objects.exists()
