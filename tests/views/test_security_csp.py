"""Content Security Policy: a nonce on every response, and no page needs an exception from it (no inline script,
no style attributes or blocks, no hx-on)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.models import Message, ReviewItem, ReviewQueueReviewer, Run, RunStep
from agents_admin.services.audit import audit_record
from agents_admin.services.review import message_comment_add
from tests.architecture.test_permissions import console_patterns, sample_objects, url_for
from tests.factories import WEATHER_TOOL, make_agent, make_message, make_run, make_thread

pytestmark = pytest.mark.django_db


@pytest.fixture
def url_objects(db: None) -> dict[str, str]:
    return sample_objects()


HX = {"HTTP_HX_REQUEST": "true"}


class InlineFinder(HTMLParser):
    """Collects everything CSP would block or that would need 'unsafe-inline'."""

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self.nonce = nonce
        self.problems: list[str] = []
        self.has_htmx_config = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and (not named.get("src") or named.get("nonce") != self.nonce):
            self.problems.append(f"<script> without src and this response's nonce: {named}")
        if tag == "style":
            self.problems.append("<style> block")
        if tag == "meta" and named.get("name") == "htmx-config":
            self.has_htmx_config = '"includeIndicatorStyles": false' in (named.get("content") or "")
        for name, _value in attrs:
            if name == "style":
                self.problems.append(f"style= on <{tag}>")
            if name.startswith(("hx-on", "data-hx-on")) or name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}>")


def problems_in(response) -> tuple[list[str], InlineFinder]:
    policy = response.headers.get("Content-Security-Policy", "")
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0] if "'nonce-" in policy else ""
    finder = InlineFinder(nonce)
    finder.feed(response.content.decode())
    return finder.problems, finder


@pytest.fixture
def rich_objects(url_objects: dict[str, str], admin_user: User) -> dict[str, str]:
    """The permission matrix's objects, plus a run paused on a tool call and some audit events, so every region
    of every page renders."""
    thread = make_thread(messages=["first"])
    make_message(thread, "an answer", role="assistant")
    run = make_run(thread=thread, agent=make_agent(tools=[WEATHER_TOOL]))
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    Run.objects.filter(pk=run.pk).update(
        status="requires_action", required_action={"submit_tool_outputs": {"tool_calls": [call]}}
    )
    RunStep.objects.create(run=run, thread=thread, type="tool_calls", step_details={"tool_calls": [call]})
    audit_record(action="agent.create", actor=admin_user, object_id="asst_x", after={"name": "x"})
    # The admin reviews the sample queue, so its item page (the rubric beside the thread) renders for them too.
    ReviewQueueReviewer.objects.create(queue_id=int(url_objects["queue_id"]), user=admin_user)
    ReviewItem.objects.filter(pk=int(url_objects["item_id"])).update(assigned_to=admin_user)
    message = Message.objects.filter(thread=thread).first()
    assert message is not None
    comment = message_comment_add(message=message, author=admin_user, body="a comment")  # theirs: editable
    return {
        **url_objects, "thread_id": thread.id, "run_id": run.id, "message_id": message.id, "comment_id": str(comment.pk)
    }  # fmt: skip


def test_every_console_page_and_partial_renders_without_inline_script_or_style(
    admin_client: Client, rich_objects: dict[str, str]
) -> None:
    found = []
    pages = 0
    for route, entry in console_patterns():
        url = url_for(route, entry, rich_objects)
        for headers in ({}, HX):
            response = admin_client.get(url, **headers)
            if response.status_code == 405 or response.streaming:  # streamed downloads are not HTML pages
                continue
            if not response["Content-Type"].startswith("text/html"):  # JSON and CSV answers are not pages
                continue
            # 286: htmx "stop polling". Some answers depend on the sample object's state: an export needs
            # ?format= (400), a queued export job has no file yet (404), /jump/ without an id is "not found".
            expected = (200, 400, 404) if url == "/jump/" or "export" in url else (200, 286)
            if url.endswith("/next/"):  # a review queue's "next item" opens the item by redirecting to it
                expected = (302,)
            if url.endswith("/comments/") and not headers:  # a message's comments region: the page goes to the message
                expected = (302,)
            assert response.status_code in expected, url
            pages += 1
            problems, finder = problems_in(response)
            found += [f"{url} {'htmx' if headers else 'page'}: {p}" for p in problems]
            if not headers and response.status_code == 200:  # error pages use the minimal layout without htmx
                assert finder.has_htmx_config, f"{url} lacks the htmx-config meta"
    assert pages > 20 and found == []


@pytest.mark.parametrize("path", ["/login/", "/no-such-page/"])
def test_sign_in_and_error_pages_need_no_inline_code_either(path: str) -> None:
    response = Client().get(path)
    problems, _ = problems_in(response)
    assert problems == []


def test_the_policy_uses_a_fresh_nonce_and_allows_nothing_inline(admin_client: Client) -> None:
    first = admin_client.get(reverse("agents_admin:home")).headers["Content-Security-Policy"]
    second = admin_client.get(reverse("agents_admin:home")).headers["Content-Security-Policy"]
    assert "'nonce-" in first and first != second
    assert "unsafe-inline" not in first and "unsafe-eval" not in first
    assert "style-src 'self'" in first and "frame-ancestors 'none'" in first


def test_the_checker_finds_each_kind_of_inline_code() -> None:
    finder = InlineFinder("abc")
    finder.feed(
        '<script>alert(1)</script><script src="/x.js"></script><script src="/y.js" nonce="abc"></script>'
        '<style>p{}</style><p style="color:red" onclick="x()" hx-on:click="y()">'
    )
    assert len(finder.problems) == 6
