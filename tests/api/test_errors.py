"""Error shapes of the REST API through Django's test client: always JSON, the right status, the field named."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents_admin.models import Agent, Message, PurgeReport, Thread
from agents_admin.services.api_keys import api_key_create
from agents_admin.services.retention import hold_place
from tests.factories import WEATHER_TOOL, make_agent, make_project, make_run, make_thread

BASE = "/api/projects/default"


@pytest.fixture
def key(db: None) -> str:
    return api_key_create(project=make_project(), label="t").secret


@pytest.fixture
def api(key: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}", enforce_csrf_checks=True)


def call(client: Client, method: str, path: str, body: Any = None, *, raw: bytes | None = None, **extra: Any) -> Any:
    sep = "&" if "?" in path else "?"
    data = raw if raw is not None else (json.dumps(body) if body is not None else "")
    response = getattr(client, method)(
        f"{BASE}{path}{sep}api-version=v1", data, content_type="application/json", **extra
    )
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response


def error_of(response: Any) -> dict[str, Any]:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "type", "param", "details"}
    return error


def test_a_missing_or_bad_key_is_401_json(db: None, anon_client: Client) -> None:
    response = call(anon_client, "get", "/assistants")
    assert response.status_code == 401 and error_of(response)["type"] == "authentication_error"
    response = call(Client(HTTP_AUTHORIZATION="Bearer aak_wrong"), "get", "/assistants")
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_api_key"


def test_api_version_is_required_and_checked(api: Client) -> None:
    response = api.get(f"{BASE}/assistants")
    assert response.status_code == 400 and error_of(response)["param"] == "api-version"
    response = api.get(f"{BASE}/assistants?api-version=1999-01-01")
    assert response.status_code == 400 and error_of(response)["param"] == "api-version"
    assert api.get(f"{BASE}/assistants?api-version=2025-05-15-preview").status_code == 200


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"null"],
)
def test_a_body_that_is_not_a_json_object_is_400(api: Client, raw: bytes) -> None:
    response = call(api, "post", "/threads", raw=raw)
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
    assert not Thread.objects.exists()


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/assistants", {}, "model"),
        ("/assistants", {"model": 5}, "model"),
        ("/assistants", {"model": "gpt-4o", "temperature": "hot"}, "temperature"),
        ("/assistants", {"model": "gpt-4o", "tools": {"type": "function"}}, "tools"),
        ("/assistants", {"model": "gpt-4o", "tools": [{"type": "warp_drive"}]}, "tools[0].type"),
        ("/assistants", {"model": "gpt-4o", "metadata": {"k": "v" * 513}}, "metadata"),
        ("/threads", {"metadata": {"a": 1}}, "metadata"),
        ("/threads", {"messages": "hello"}, "messages"),
        ("/threads", {"messages": [5]}, "messages[0]"),
        ("/threads", {"messages": [{"role": "user", "content": ""}]}, "content"),
        ("/threads", {"messages": [{"role": "robot", "content": "hi"}]}, "role"),
        ("/threads/runs", {"assistant_id": 7}, "assistant_id"),
    ],
)
def test_validation_errors_name_the_field_and_change_nothing(api: Client, path: str, body: Any, param: str) -> None:
    response = call(api, "post", path, body)
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]
    assert not Agent.objects.exists() and not Thread.objects.exists()


def test_nul_characters_are_refused_before_they_reach_the_database(api: Client) -> None:
    # PostgreSQL cannot store NUL in text or JSON; found by the schemathesis fuzzer.
    response = call(api, "post", "/assistants", {"model": "gpt-4o", "name": "a\u0000b"})
    assert response.status_code == 400 and error_of(response)["param"] == "name"
    response = call(
        api, "post", "/threads", {"messages": [{"role": "user", "content": [{"type": "text", "text": "\u0000"}]}]}
    )
    assert response.status_code == 400 and error_of(response)["param"] == "messages[0].content[0].text"
    response = call(api, "get", "/assistants?after=asst_%00")
    assert response.status_code == 400 and error_of(response)["param"] == "after"
    response = call(api, "get", "/threads/thread_%00")
    assert response.status_code == 404
    response = call(api, "post", "/threads", {"metadata": {"note": "a backslash then u0000: \\u0000"}})
    assert response.status_code == 200 and response.json()["metadata"]["note"].endswith("\\u0000")
    assert not Agent.objects.exists() and Thread.objects.count() == 1


def test_run_options_of_the_wrong_type_are_400(api: Client) -> None:
    agent = make_agent()
    thread = make_thread(messages=["hi"])
    for body, param in [
        ({"assistant_id": agent.id, "stream": "yes"}, "stream"),
        ({"assistant_id": agent.id, "max_completion_tokens": "many"}, "max_completion_tokens"),
        ({"assistant_id": agent.id, "tool_choice": 3}, "tool_choice"),
        ({"assistant_id": agent.id, "additional_messages": [{"role": "user"}]}, "content"),
        ({"assistant_id": agent.id, "truncation_strategy": {"type": "last_messages", "last_messages": 0}},
         "truncation_strategy.last_messages"),
    ]:  # fmt: skip
        response = call(api, "post", f"/threads/{thread.id}/runs", body)
        assert response.status_code == 400 and error_of(response)["param"] == param, (body, response.content)
    assert not thread.runs.exists()


def test_unknown_objects_are_404_naming_the_id(api: Client) -> None:
    thread = make_thread()
    for path in [
        "/assistants/asst_nope",
        "/threads/thread_nope",
        "/threads/thread_nope/messages",
        f"/threads/{thread.id}/messages/msg_nope",
        f"/threads/{thread.id}/runs/run_nope",
        f"/threads/{thread.id}/runs/run_nope/steps",
        "/files/assistant-nope",
    ]:
        response = call(api, "get", path)
        assert response.status_code == 404 and "nope" in error_of(response)["message"], path
    response = call(api, "post", f"/threads/{thread.id}/runs", {"assistant_id": "asst_nope"})
    assert response.status_code == 404


def test_unknown_routes_and_methods_are_json(api: Client) -> None:
    response = call(api, "get", "/wormholes")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    response = call(api, "post", "/nothing/here", {})
    assert response.status_code == 404
    response = api.get("/api/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = call(api, "put", "/assistants", {})
    assert response.status_code == 405 and response["Allow"] == "GET, POST"
    assert error_of(response)["code"] == "method_not_allowed"


def test_the_api_needs_no_csrf_token(api: Client) -> None:
    response = call(api, "post", "/threads", {})
    assert response.status_code == 200 and response.json()["object"] == "thread"


def test_a_huge_body_is_413(api: Client, settings: Any) -> None:
    settings.API_MAX_JSON_BYTES = 1000
    response = call(api, "post", "/threads", {"metadata": {"k": "v" * 2000}})
    assert response.status_code == 413 and error_of(response)["code"] == "too_large"


def test_a_message_longer_than_djangos_form_limit_is_accepted(api: Client) -> None:
    thread = make_thread()
    # 1.4 M characters (under the 1.5 M limit), 3.4 MB of JSON: above Django's 2.5 MB form-data limit.
    text = "x" * 1_000_000 + "é" * 400_000
    response = call(api, "post", f"/threads/{thread.id}/messages", {"role": "user", "content": text})
    assert response.status_code == 200
    assert response.json()["content"][0]["text"]["value"] == text


def test_an_internal_error_is_a_json_500(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(**kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("agents_admin.api.threads.thread_create", boom)
    response = call(api, "post", "/threads", {})
    assert response.status_code == 500
    error = error_of(response)
    assert error["type"] == "server_error" and "boom" not in error["message"]


def test_a_disallowed_host_is_still_json(api: Client) -> None:
    response = api.get(f"{BASE}/assistants?api-version=v1", HTTP_HOST="evil.example")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


def test_a_second_run_and_a_message_on_a_busy_thread_are_400(api: Client) -> None:
    run = make_run(text="hi")
    response = call(api, "post", f"/threads/{run.thread_id}/runs", {"assistant_id": run.agent_ref})
    assert response.status_code == 400 and error_of(response)["code"] == "thread_has_active_run"
    response = call(api, "post", f"/threads/{run.thread_id}/messages", {"role": "user", "content": "more"})
    assert response.status_code == 400
    response = call(api, "delete", f"/threads/{run.thread_id}")
    assert response.status_code == 400
    response = call(api, "post", f"/threads/{run.thread_id}/runs/{run.id}/submit_tool_outputs", {"tool_outputs": []})
    assert response.status_code == 400 and error_of(response)["param"] == "run_id"


def test_deleting_a_thread_is_a_recorded_purge_and_a_held_thread_is_kept(api: Client) -> None:
    held, free = make_thread(messages=["keep me"]), make_thread(messages=["bye"])
    hold_place(thread=held, reason="legal hold", actor=None)
    response = call(api, "delete", f"/threads/{held.id}")
    assert response.status_code == 400 and error_of(response)["message"]
    assert Thread.objects.filter(pk=held.id).exists()
    response = call(api, "delete", f"/threads/{free.id}")
    assert response.json() == {"id": free.id, "object": "thread.deleted", "deleted": True}
    report = PurgeReport.objects.get(trigger="api")
    assert report.threads == 1


def test_lists_validate_paging_parameters(api: Client) -> None:
    for query, param in [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"), ("order=up", "order"),
                         ("after=asst_gone", "after")]:  # fmt: skip
        response = call(api, "get", f"/assistants?{query}")
        assert response.status_code == 400 and error_of(response)["param"] == param, query


def test_list_envelope_and_cursors(api: Client) -> None:
    agents = [make_agent(name=f"a{i}") for i in range(5)]
    page = call(api, "get", "/assistants?limit=2").json()
    assert set(page) == {"object", "data", "first_id", "last_id", "has_more"}
    assert [a["id"] for a in page["data"]] == [agents[4].id, agents[3].id] and page["has_more"] is True
    nxt = call(api, "get", f"/assistants?limit=2&after={page['last_id']}").json()
    assert [a["id"] for a in nxt["data"]] == [agents[2].id, agents[1].id]
    back = call(api, "get", f"/assistants?limit=2&before={nxt['first_id']}").json()
    assert [a["id"] for a in back["data"]] == [agents[4].id, agents[3].id] and back["has_more"] is False
    asc = call(api, "get", f"/assistants?order=asc&after={agents[3].id}").json()
    assert [a["id"] for a in asc["data"]] == [agents[4].id]
    end = call(api, "get", f"/assistants?order=asc&after={agents[4].id}").json()
    assert end == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    assert isinstance(page["data"][0]["created_at"], int)


def test_after_and_before_together_select_the_window_between_them(api: Client) -> None:
    thread = make_thread(messages=[f"m{i}" for i in range(8)])
    ids = list(Message.objects.filter(thread=thread).order_by("seq").values_list("id", flat=True))

    def listed(query: str) -> tuple[list[str], bool]:
        page = call(api, "get", f"/threads/{thread.id}/messages?{query}").json()
        return [m["id"] for m in page["data"]], page["has_more"]

    assert listed(f"order=asc&after={ids[1]}&before={ids[6]}") == (ids[2:6], False)
    assert listed(f"order=asc&after={ids[1]}&before={ids[6]}&limit=3") == (ids[2:5], True)
    assert listed(f"order=desc&after={ids[6]}&before={ids[1]}") == (ids[5:1:-1], False)
    assert listed(f"order=desc&after={ids[6]}&before={ids[1]}&limit=2") == (ids[5:3:-1], True)
    # Cursors the wrong way round, or next to each other, leave nothing between them.
    assert listed(f"order=asc&after={ids[6]}&before={ids[1]}") == ([], False)
    assert listed(f"order=asc&after={ids[3]}&before={ids[4]}") == ([], False)
    response = call(api, "get", f"/threads/{thread.id}/messages?after={ids[1]}&before=msg_gone")
    assert response.status_code == 400 and error_of(response)["param"] == "before"
    agents = [make_agent(name=f"a{i}") for i in range(4)]
    page = call(api, "get", f"/assistants?after={agents[3].id}&before={agents[0].id}").json()
    assert [a["id"] for a in page["data"]] == [agents[2].id, agents[1].id]


@pytest.mark.parametrize("tool", ["code_interpreter", "bing_grounding", "azure_ai_search", "azure_function"])
def test_a_tool_this_service_cannot_run_is_refused_naming_it(api: Client, tool: str) -> None:
    tools = [WEATHER_TOOL, {"type": tool}]
    response = call(api, "post", "/assistants", {"model": "gpt-4o", "tools": tools})
    error = error_of(response)
    assert response.status_code == 400 and error["param"] == "tools[1].type" and error["code"] == "unsupported_tool"
    assert f"'{tool}'" in error["message"] and "cannot" in error["message"]
    assert not Agent.objects.exists()
    agent = make_agent(tools=[WEATHER_TOOL])
    thread = make_thread(messages=["hi"])
    response = call(api, "post", f"/threads/{thread.id}/runs", {"assistant_id": agent.id, "tools": tools})
    assert response.status_code == 400 and error_of(response)["param"] == "tools[1].type"
    response = call(api, "post", f"/assistants/{agent.id}", {"tools": tools})
    assert response.status_code == 400 and Agent.objects.get(pk=agent.id).tools == [WEATHER_TOOL]


def test_success_is_200_with_deletion_objects(api: Client) -> None:
    agent = call(api, "post", "/assistants", {"model": "gpt-4o", "unknown_future_field": 1})
    assert agent.status_code == 200
    deleted = call(api, "delete", f"/assistants/{agent.json()['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": agent.json()["id"], "object": "assistant.deleted", "deleted": True}


def test_attachments_for_tools_that_cannot_run_are_refused(api: Client) -> None:
    thread = make_thread()
    body = {"role": "user", "content": "x", "attachments": [{"file_id": "f", "tools": [{"type": "code_interpreter"}]}]}
    response = call(api, "post", f"/threads/{thread.id}/messages", body)
    assert response.status_code == 400 and error_of(response)["param"] == "attachments[0].tools[0].type"
    assert error_of(response)["code"] == "unsupported_tool"


def test_vector_store_requests_that_cannot_be_met_are_refused_naming_the_field(api: Client) -> None:
    response = call(api, "get", "/vector_stores/vs_missing")
    assert response.status_code == 404
    response = call(api, "post", "/vector_stores", {"file_ids": ["assistant-nope"]})
    assert response.status_code == 400 and error_of(response)["param"] == "file_ids[0]"
    response = call(
        api, "post", "/vector_stores", {"configuration": {"data_sources": [{"uri": "x", "type": "uri_asset"}]}}
    )
    assert response.status_code == 400 and error_of(response)["param"] == "configuration"
    response = call(api, "post", "/vector_stores", {"expires_after": {"anchor": "created_at", "days": 1}})
    assert response.status_code == 400 and error_of(response)["param"] == "expires_after.anchor"
    store = call(api, "post", "/vector_stores", {"name": "s"}).json()
    response = call(api, "get", f"/vector_stores/{store['id']}/files?filter=done")
    assert response.status_code == 400 and error_of(response)["param"] == "filter"
    response = call(api, "post", f"/vector_stores/{store['id']}/file_batches", {"file_ids": []})
    assert response.status_code == 400 and error_of(response)["param"] == "file_ids"


def test_message_content_and_attachments_must_name_files_of_the_project(api: Client) -> None:
    thread = make_thread()
    image = {"type": "image_file", "image_file": {"file_id": "assistant-missing"}}
    response = call(api, "post", f"/threads/{thread.id}/messages", {"role": "user", "content": [image]})
    assert response.status_code == 400 and error_of(response)["param"] == "content[0].image_file.file_id"
    response = call(
        api, "post", "/threads", {"messages": [{"role": "user", "content": "x", "attachments": [{"file_id": "f"}]}]}
    )
    assert response.status_code == 400 and error_of(response)["param"] == "messages[0].attachments[0].file_id"
    assert thread.messages.count() == 0 and Thread.objects.count() == 1


def test_a_broken_multipart_body_is_400(api: Client) -> None:
    response = api.generic(
        "POST",
        f"{BASE}/files?api-version=v1",
        b"--xyz\r\nContent-Disposition: form-data; name=purpose\r\n\r\nassistants",
        content_type="multipart/form-data; boundary=",
    )
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_file_upload_errors(api: Client) -> None:
    response = call(api, "post", "/files", {"purpose": "assistants"})
    assert response.status_code == 400 and error_of(response)["param"] == "file"
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api.post(f"{BASE}/files?api-version=v1", {"file": SimpleUploadedFile("a.txt", b"abc"), "purpose": "fun"})
    assert response.status_code == 400 and error_of(response)["param"] == "purpose"


def test_the_openapi_document_describes_the_served_routes(client: Client) -> None:
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for route, method in [
        ("/api/projects/{project}/assistants", "post"),
        ("/api/projects/{project}/threads/{thread_id}/messages", "get"),
        ("/api/projects/{project}/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", "post"),
        ("/api/projects/{project}/threads/runs", "post"),
        ("/api/projects/{project}/files/{file_id}/content", "get"),
    ]:
        assert method in paths[route], route
    assert len({op["operationId"] for ops in paths.values() for op in ops.values()}) == sum(
        len(ops) for ops in paths.values()
    )
