"""The v2 protocol's routes through Django's test client: which api-version each takes, errors in the service's
shape, and what they refuse without changing anything (the official clients are in tests/v2clients)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents_admin.models import Agent, AgentVersion, Response, Run, Thread
from agents_admin.services.api_keys import api_key_create
from tests.factories import make_agent, make_project

BASE = "/api/projects/default"
PROMPT = {"definition": {"kind": "prompt", "model": "gpt-4o"}}


@pytest.fixture
def api(db: None) -> Client:
    key = api_key_create(project=make_project(), label="t").secret
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def post(client: Client, path: str, body: Any, **extra: Any) -> Any:
    return client.post(f"{BASE}{path}", json.dumps(body), content_type="application/json", **extra)


def error_of(response: Any) -> dict[str, Any]:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "type", "param", "details"} and error["details"] == []
    return error


def test_each_route_family_takes_its_api_version(api: Client) -> None:
    assert error_of(post(api, "/agents/bot/versions", PROMPT))["param"] == "api-version"
    assert post(api, "/agents/bot/versions?api-version=2025-11-15-preview", PROMPT).status_code == 200
    assert post(api, "/agents/bot/versions?api-version=v1", PROMPT).json()["version"] == "2"
    bad = post(api, "/agents/bot/versions?api-version=2025-05-01", PROMPT)
    assert bad.status_code == 400 and error_of(bad)["param"] == "api-version"
    # /openai/v1 needs none (GA clients send none); the 2.0 betas' /openai routes need one, of any value.
    assert post(api, "/openai/v1/conversations", {}).status_code == 200
    assert error_of(post(api, "/openai/conversations", {}))["param"] == "api-version"
    assert post(api, "/openai/conversations?api-version=2025-11-15-preview", {}).status_code == 200
    doc = api.get("/api/openapi.json").json()["paths"]
    assert not [
        p
        for p in doc["/api/projects/{project}/openai/v1/conversations"]["post"]["parameters"]
        if p["name"] == "api-version"
    ]
    [version] = [p for p in doc["/api/projects/{project}/agents"]["get"]["parameters"] if p["name"] == "api-version"]
    assert version["schema"]["enum"] == ["v1", "2025-11-15-preview"]


def test_refusals_change_nothing(api: Client) -> None:
    agent = make_agent(name="Helper")
    ref = {"agent_reference": {"name": agent.id}}
    hosted = {"definition": {"kind": "hosted"}}
    answer = [{"type": "function_call_output", "call_id": "call_1", "output": "x"}]
    refused = [
        post(api, "/agents/bot/versions?api-version=v1", {"definition": {"kind": "prompt"}}),  # no model
        post(api, "/agents/bot/versions?api-version=v1", {"definition": {"kind": "prompt", "model": "m", "x": 1}}),
        post(api, "/agents/bot/versions?api-version=v1", {"definition": {"kind": "prompt", "model": "m", "text": 3}}),
        post(api, "/agents/bot/versions?api-version=v1", hosted, HTTP_FOUNDRY_FEATURES="HostedAgents=V1Preview"),
        post(api, "/openai/v1/responses", {"input": "hi"}),  # no agent
        post(api, "/openai/v1/responses", {"input": 5, **ref}),
        post(api, "/openai/v1/responses", {"input": "hi", **ref, "store": False}),
        post(api, "/openai/v1/responses", {"input": "hi", **ref, "text": {"format": {"type": "text"}}}),
        post(
            api,
            "/openai/v1/responses",
            {"input": "hi", **ref, "conversation": "conv_x", "previous_response_id": "resp_y"},
        ),
        post(api, "/openai/v1/responses", {"input": answer, **ref}),
    ]
    assert [r.status_code for r in refused] == [400] * len(refused)
    codes = [error_of(r)["code"] for r in refused]
    assert codes[3] == "invalid_payload" and codes[7] == "invalid_payload"
    assert not Agent.objects.filter(api_name="bot").exists() and AgentVersion.objects.filter(agent=agent).count() == 1
    # The refused function output named no call of any response: no conversation, run or response was left.
    assert not Thread.objects.exists() and not Run.objects.exists() and not Response.objects.exists()


def test_unknown_objects_are_404_in_the_service_shape(api: Client) -> None:
    for path in ("/openai/v1/conversations/conv_nope", "/openai/v1/responses/resp_nope", "/agents/nope?api-version=v1"):
        response = api.get(f"{BASE}{path}")
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
