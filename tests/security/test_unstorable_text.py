"""Lone UTF-16 surrogates and NULs are refused where input is parsed, naming the field, and nothing is stored.

Before the fix ``{"metadata": {"a": "\\ud800"}}`` was stored through the API, and then the thread list, search, the
thread page and the Markdown export answered 500 for everyone (PostgreSQL: 500 at the insert itself).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agents_admin.errors import InvalidInput
from agents_admin.lib.text import json_text_problem, scrub_json
from agents_admin.models import Agent, Message, Thread
from agents_admin.services.api_keys import api_key_create
from agents_admin.services.threads import message_create
from tests.factories import make_agent, make_project, make_thread

BASE = "/api/projects/default"


@pytest.fixture
def api(db: None) -> Client:
    key = api_key_create(project=make_project(), label="t").secret
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def post(api: Client, path: str, raw: bytes) -> Any:
    return api.post(f"{BASE}{path}?api-version=v1", raw, content_type="application/json")


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/threads", {"metadata": {"a": "\ud800"}}, "metadata.a"),
        ("/threads", {"metadata": {"\udfff": "b"}}, "metadata"),
        ("/threads", {"messages": [{"role": "user", "content": "hi \udc00"}]}, "messages[0].content"),
        ("/assistants", {"model": "gpt-4o", "name": "x\ud83d"}, "name"),
        ("/assistants", {"model": "gpt-4o", "instructions": "\ud800\ud800"}, "instructions"),
    ],
)
def test_the_api_refuses_a_lone_surrogate_naming_the_field(api: Client, path: str, body: dict, param: str) -> None:
    response = post(api, path, json.dumps(body).encode())  # ensure_ascii: sent as the escape \ud800
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["param"] == param and "surrogate" in error["message"]
    assert not Thread.objects.exists() and not Agent.objects.exists()


def test_raw_surrogate_bytes_are_refused_too(api: Client) -> None:
    # Python's JSON decoder lets the UTF-8 encoding of a surrogate (ED A0 80) through as '\ud800'.
    response = post(api, "/threads", b'{"metadata": {"a": "\xed\xa0\x80"}}')
    assert response.status_code == 400 and response.json()["error"]["param"] == "metadata.a"
    assert not Thread.objects.exists()


def test_a_surrogate_pair_is_ordinary_text(api: Client, admin_client: Client) -> None:
    response = post(api, "/threads", json.dumps({"metadata": {"a": "\U0001f600"}}).encode())
    assert response.status_code == 200 and response.json()["metadata"] == {"a": "\U0001f600"}
    assert admin_client.get(reverse("agents_admin:thread_list")).status_code == 200


def test_100k_deep_json_is_a_400_not_a_server_error(api: Client) -> None:
    response = post(api, "/threads", b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_services_refuse_it_whatever_called_them(db: None) -> None:
    thread = make_thread()
    for call in (
        lambda: message_create(thread=thread, role="user", content="a\ud800"),
        lambda: make_agent(name="x\udfff"),
        lambda: make_thread(metadata={"k": "\ud800"}),
    ):
        with pytest.raises(InvalidInput, match="surrogate"):
            call()
    assert not Message.objects.exists() and not Agent.objects.exists() and Thread.objects.count() == 1


def test_a_form_json_field_shows_the_error_beside_the_field(admin_client: Client) -> None:
    response = admin_client.post(reverse("agents_admin:thread_create"), {"metadata": '{"a": "\\ud800"}'})
    assert response.status_code == 200
    assert "surrogate" in response.content.decode() and not Thread.objects.exists()


def test_form_fields_never_receive_surrogates(admin_client: Client) -> None:
    # A form body is decoded with replacement characters, so its UTF-8-encoded surrogate arrives as U+FFFD.
    thread = make_thread()
    response = admin_client.post(
        reverse("agents_admin:message_add", args=[thread.id]),
        b"content=a%ED%A0%80b",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 302
    assert admin_client.get(reverse("agents_admin:thread_detail", args=[thread.id])).status_code == 200


def test_text_received_from_a_model_or_remote_is_scrubbed_not_refused() -> None:
    data = {"a": ["x\ud800y", {"k\x00": "\udfff"}]}
    assert json_text_problem(data) == ("a[0]", json_text_problem("x\ud800y")[1])  # type: ignore[index]
    assert scrub_json(data) == {"a": ["x\ufffdy", {"k": "\ufffd"}]}
    assert json_text_problem(scrub_json(data)) is None
