"""A conversation's items are its messages with its responses' function calls and function outputs placed where
they entered the conversation; every way of paging reads each item once, in order (the official client's round
trip is in tests/v2clients/test_responses.py)."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.test import Client
from django.utils import timezone

from agents_admin.models import Message, Project, Response, Run, RunStep, Thread
from agents_admin.services.api_keys import api_key_create
from tests.factories import make_agent, make_message, make_project, make_run

BASE = "/api/projects/default/openai/v1/conversations"


@pytest.fixture
def project(db: None) -> Project:
    return make_project()


@pytest.fixture
def api(project: Project) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(project=project, label='t').secret}")


def respond(
    thread: Thread, *, input_seq: int, after_seq: int, calls: tuple[str, ...] = (), outputs: tuple[str, ...] = ()
) -> Response:
    """A response of the conversation (its run ended) that was given ``outputs`` and made ``calls``."""
    run = make_run(thread=thread, agent=make_agent(project=thread.project))
    Run.objects.filter(pk=run.pk).update(status="completed")
    if calls:
        tool_calls = [{"id": c, "type": "function", "function": {"name": "f", "arguments": "{}"}} for c in calls]
        RunStep.objects.create(
            run=run, thread=thread, type="tool_calls", status="completed",
            step_details={"type": "tool_calls", "tool_calls": tool_calls},
        )  # fmt: skip
    items = [{"type": "function_call_output", "id": f"item_{c}", "call_id": c, "output": f"out {c}"} for c in outputs]
    return Response.objects.create(
        project=thread.project, thread=thread, run=run, agent_name="bot", input_items=items,
        input_seq=input_seq, after_seq=after_seq,
        created_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def conversation(project: Project) -> tuple[Thread, list[str]]:
    """m1, R1's two calls, R2's two outputs, m2 (R2's answer), m3, R3's call, R4's output and call, R5's output, m4:
    twelve items, the ids in order."""
    thread = Thread.objects.create(project=project)
    m1 = make_message(thread, "question")
    respond(thread, input_seq=0, after_seq=1, calls=("call_1a", "call_1b"))
    respond(thread, input_seq=1, after_seq=1, outputs=("call_1a", "call_1b"))
    m2 = make_message(thread, "answer", role="assistant")
    m3 = make_message(thread, "again")
    respond(thread, input_seq=2, after_seq=3, calls=("call_3",))
    respond(thread, input_seq=3, after_seq=3, outputs=("call_3",), calls=("call_4",))
    respond(thread, input_seq=3, after_seq=3, outputs=("call_4",))
    m4 = make_message(thread, "done", role="assistant")
    # Created within the same microsecond on a fast machine, two responses would tie; the service makes one at a time.
    for offset, response in enumerate(Response.objects.filter(thread=thread).order_by("input_seq", "created_at")):
        Response.objects.filter(pk=response.pk).update(created_at=response.created_at + dt.timedelta(seconds=offset))
    ids = [m1.id, "fc_call_1a", "fc_call_1b", "item_call_1a", "item_call_1b", m2.id, m3.id, "fc_call_3"]
    return thread, [*ids, "item_call_3", "fc_call_4", "item_call_4", m4.id]


def listing(api: Client, thread: Thread, **query: Any) -> dict[str, Any]:
    response = api.get(f"{BASE}/{thread.pk}/items", query)
    assert response.status_code == 200, response.content
    return response.json()


def walk(api: Client, thread: Thread, *, limit: int, order: str) -> list[str]:
    """Every page, as the official clients read them: on from last_id while has_more."""
    seen: list[str] = []
    query: dict[str, Any] = {"limit": limit, "order": order}
    while True:
        page = listing(api, thread, **query)
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            return seen
        query["after"] = page["last_id"]


def test_calls_and_outputs_stand_between_the_messages(api: Client, conversation: tuple[Thread, list[str]]) -> None:
    thread, ids = conversation
    data = listing(api, thread, order="asc", limit=100)["data"]
    assert [item["id"] for item in data] == ids
    types = [item["type"] for item in data]
    call, output = "function_call", "function_call_output"
    assert types == ["message", call, call, output, output, "message", "message", call, output, call, output, "message"]
    assert data[1] == {
        "type": "function_call", "id": "fc_call_1a", "call_id": "call_1a", "name": "f", "arguments": "{}",
        "status": "completed",
    }  # fmt: skip
    assert data[3] == {
        "type": "function_call_output", "id": "item_call_1a", "call_id": "call_1a", "output": "out call_1a",
        "status": "completed",
    }  # fmt: skip
    assert [item["id"] for item in listing(api, thread, limit=100)["data"]] == ids[::-1]  # newest first by default


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 12])
def test_every_page_size_reads_each_item_once_in_both_orders(
    api: Client, conversation: tuple[Thread, list[str]], limit: int
) -> None:
    thread, ids = conversation
    assert walk(api, thread, limit=limit, order="asc") == ids
    assert walk(api, thread, limit=limit, order="desc") == ids[::-1]


def test_before_and_windows_from_any_kind_of_item(api: Client, conversation: tuple[Thread, list[str]]) -> None:
    thread, ids = conversation
    for index, cursor in enumerate(ids):
        nearest_before = listing(api, thread, order="asc", limit=3, before=cursor)["data"]
        assert [i["id"] for i in nearest_before] == ids[max(0, index - 3) : index]
        newer = listing(api, thread, order="desc", limit=3, before=cursor)["data"]
        assert [i["id"] for i in newer] == ids[index + 1 : index + 4][::-1]
    window = listing(api, thread, order="asc", limit=100, after=ids[2], before=ids[9])["data"]
    assert [i["id"] for i in window] == ids[3:9]
    backwards = listing(api, thread, order="desc", limit=100, after=ids[9], before=ids[2])["data"]
    assert [i["id"] for i in backwards] == ids[3:9][::-1]


def test_a_call_or_output_is_read_alone_and_kept_with_its_response(
    api: Client, conversation: tuple[Thread, list[str]]
) -> None:
    thread, _ = conversation
    assert api.get(f"{BASE}/{thread.pk}/items/fc_call_3").json()["call_id"] == "call_3"
    assert api.get(f"{BASE}/{thread.pk}/items/item_call_4").json()["output"] == "out call_4"
    assert api.get(f"{BASE}/{thread.pk}/items/fc_call_nope").status_code == 404
    refused = api.delete(f"{BASE}/{thread.pk}/items/fc_call_3")
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "item_id"
    assert RunStep.objects.filter(thread=thread, type="tool_calls").count() == 3
    unknown = api.get(f"{BASE}/{thread.pk}/items", {"after": "item_nope"})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "after"
    assert Message.objects.filter(thread=thread).count() == 4


def test_responses_made_before_items_were_placed_are_placed_by_the_migration(api: Client, project: Project) -> None:
    place = importlib.import_module("agents_admin.migrations.0022_response_item_positions").place_existing_responses
    thread = Thread.objects.create(project=project)
    question = make_message(thread, "question")
    asked = respond(thread, input_seq=0, after_seq=0, calls=("call_old",))
    answer = make_message(thread, "answer", role="assistant")
    answered = respond(thread, input_seq=0, after_seq=0, outputs=("call_old",))
    message_item = {"type": "message", "id": question.id, "role": "user", "content": "question"}
    Response.objects.filter(pk=asked.pk).update(input_seq=None, after_seq=None, input_items=[message_item])
    Response.objects.filter(pk=answered.pk).update(input_seq=None, after_seq=None)
    place(django_apps, None)
    assert Response.objects.values_list("input_seq", "after_seq").get(pk=asked.pk) == (0, 1)
    assert Response.objects.values_list("input_seq", "after_seq").get(pk=answered.pk) == (2, 2)
    ids = [item["id"] for item in listing(api, thread, order="asc")["data"]]
    assert ids == [question.id, "fc_call_old", answer.id, "item_call_old"]
