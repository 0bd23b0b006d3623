"""Hosted tools: OpenAPI tools calling a real HTTP API on 127.0.0.1, and connected agents on child threads.

Runs are executed in-process with the offline model, whose ``/tool <name> {json}`` calls the named function.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents_admin.errors import InvalidInput
from agents_admin.models import Message, Run, RunStep, Thread
from agents_admin.services.connections import connection_create
from agents_admin.services.runs import run_execute
from agents_admin.services.tools import model_tools
from tests.factories import WEATHER_TOOL, make_agent, make_run
from tests.tool_servers import WeatherApi, openapi_tool

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.tool_servers"]


def execute(run: Run) -> Run:
    run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


def tool_entries(run: Run) -> list[dict[str, Any]]:
    step = RunStep.objects.get(run=run, type="tool_calls")
    return step.step_details["tool_calls"]


def test_an_openapi_spec_becomes_one_function_per_operation(weather_api: WeatherApi) -> None:
    offered = model_tools([WEATHER_TOOL, openapi_tool(weather_api)])
    names = [d["function"]["name"] for d in offered.definitions]
    assert names == ["get_weather", "weather_getForecast", "weather_slow", "weather_huge"]
    forecast = offered.definitions[1]["function"]
    assert forecast["description"] == "The forecast for a city"
    assert forecast["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    }
    assert set(offered.hosted) == {"weather_getForecast", "weather_slow", "weather_huge"}


def test_a_run_calls_the_api_and_answers_with_what_it_returned(weather_api: WeatherApi) -> None:
    agent = make_agent(tools=[openapi_tool(weather_api)])
    run = execute(make_run(agent=agent, text='/tool weather_getForecast {"city": "Paris", "days": 3}'))
    assert run.status == "completed", run.last_error
    assert weather_api.requests[0]["path"] == "/v1/forecast/Paris"
    assert weather_api.requests[0]["query"] == {"days": ["3"]}
    [entry] = tool_entries(run)
    assert entry["type"] == "openapi" and entry["openapi"]["name"] == "weather_getForecast"
    assert json.loads(entry["openapi"]["output"]) == {"city": "Paris", "days": 3, "sky": "sunny", "temp_c": 23}
    reply = Message.objects.get(run=run, role="assistant")
    assert '"sky": "sunny"' in reply.text
    assert list(run.steps.order_by("created_at").values_list("type", "status")) == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    assert run.total_tokens and run.total_tokens > 20


def test_a_connection_key_is_sent_as_the_spec_says(weather_api: WeatherApi) -> None:
    connection_create(fields={"name": "weather-key", "kind": "openai_compatible", "endpoint": weather_api.url,
                              "auth": "api_key", "api_key": "s3cret"})  # fmt: skip
    auth = {"type": "connection", "security_scheme": {"connection_id": "weather-key"}}
    agent = make_agent(tools=[openapi_tool(weather_api, auth=auth, key_header="X-Api-Key")])
    run = execute(make_run(agent=agent, text='/tool weather_getForecast {"city": "Oslo"}'))
    assert run.status == "completed", run.last_error
    assert weather_api.requests[0]["headers"]["X-Api-Key"] == "s3cret"
    assert "s3cret" not in json.dumps(tool_entries(run))


def test_slow_huge_and_failing_calls_give_the_model_an_error_not_a_failed_run(
    weather_api: WeatherApi, settings: Any
) -> None:
    settings.OPENAPI_TOOL_TIMEOUT_SECONDS = 0.5
    settings.OPENAPI_TOOL_MAX_RESPONSE_BYTES = 10_000
    agent = make_agent(tools=[openapi_tool(weather_api)])
    outputs = {}
    for name, args in [("weather_slow", "{}"), ("weather_huge", "{}"), ("weather_getForecast", "{}")]:
        run = execute(make_run(agent=agent, text=f"/tool {name} {args}"))
        assert run.status == "completed", run.last_error
        outputs[name] = tool_entries(run)[0]["openapi"]["output"]
    assert outputs["weather_slow"] == "error: no answer within 0.5 seconds."
    assert outputs["weather_huge"] == "error: the response is larger than 10,000 bytes; it was not read."
    assert outputs["weather_getForecast"] == "error: the argument 'city' is required."


@pytest.mark.parametrize(
    ("change", "param"),
    [
        (lambda t: t["openapi"].update(spec={"swagger": "2.0"}), "tools[0].openapi.spec"),
        (lambda t: t["openapi"]["spec"].update(servers=[{"url": "/relative"}]), "tools[0].openapi.spec"),
        (lambda t: t["openapi"]["spec"]["paths"]["/slow"]["get"].update(parameters=[{"$ref": "#/nowhere"}]),
         "tools[0].openapi.spec"),
        (lambda t: t["openapi"].update(auth={"type": "managed_identity", "security_scheme": {"audience": "x"}}),
         "tools[0].openapi.auth.type"),
        (lambda t: t["openapi"].update(auth={"type": "connection", "security_scheme": {"connection_id": "nope"}}),
         "tools[0].openapi.auth.security_scheme.connection_id"),
        (lambda t: t["openapi"].update(name="has space"), "tools[0].openapi.name"),
    ],
)  # fmt: skip
def test_an_openapi_tool_that_could_not_run_is_refused(weather_api: WeatherApi, change: Any, param: str) -> None:
    tool = openapi_tool(weather_api)
    change(tool)
    with pytest.raises(InvalidInput) as error:
        make_agent(tools=[tool])
    assert error.value.param == param


def test_a_connected_agent_answers_on_its_own_thread(weather_api: WeatherApi) -> None:
    helper = make_agent(name="Translator", instructions="Translate.")
    details = {"id": helper.id, "name": "translator", "description": "Translates text"}
    connected = {"type": "connected_agent", "connected_agent": details}
    boss = make_agent(name="Boss", tools=[connected])
    run = execute(make_run(agent=boss, text='/tool translator {"input": "bonjour le monde"}'))
    assert run.status == "completed", run.last_error
    [entry] = tool_entries(run)
    details = entry["connected_agent"]
    child = Run.objects.get(pk=details["run_id"])
    assert child.agent_id == helper.id and child.status == "completed"
    assert child.metadata == {"connected_from_run": run.id}
    child_thread = Thread.objects.get(pk=details["thread_id"])
    assert child_thread.metadata == {"connected_from_run": run.id}
    assert Message.objects.filter(thread=child_thread, role="user").get().text == "bonjour le monde"
    assert "bonjour le monde" in details["output"]
    assert "bonjour le monde" in Message.objects.get(run=run, role="assistant").text


def test_connected_agents_must_exist_in_the_project_and_cannot_loop_forever(settings: Any) -> None:
    missing = {"type": "connected_agent", "connected_agent": {"id": "asst_nope", "name": "x", "description": "d"}}
    with pytest.raises(InvalidInput) as error:
        make_agent(tools=[missing])
    assert error.value.param == "tools[0].connected_agent.id"
    settings.CONNECTED_AGENT_MAX_DEPTH = 1
    helper = make_agent(name="Inner")
    inner = {"type": "connected_agent", "connected_agent": {"id": helper.id, "name": "inner", "description": "d"}}
    middle = make_agent(name="Middle", tools=[inner], instructions="")
    outer_tool = {"type": "connected_agent", "connected_agent": {"id": middle.id, "name": "middle", "description": "d"}}
    outer = make_agent(name="Outer", tools=[outer_tool])
    # The middle agent is asked to call its own connected agent: one level too deep.
    run = execute(make_run(agent=outer, text='/tool middle {"input": "/tool inner {\\"input\\": \\"hi\\"}"}'))
    assert run.status == "completed", run.last_error
    child = Run.objects.get(pk=tool_entries(run)[0]["connected_agent"]["run_id"])
    assert tool_entries(child)[0]["connected_agent"]["output"].startswith("error: connected agents may call")


def test_only_allowed_hosts_are_called_when_the_operator_lists_them(weather_api: WeatherApi, settings: Any) -> None:
    agent = make_agent(tools=[openapi_tool(weather_api)])
    settings.OPENAPI_TOOL_ALLOWED_HOSTS = ["api.example.com"]
    with pytest.raises(InvalidInput) as error:
        make_agent(tools=[openapi_tool(weather_api)])
    assert error.value.param == "tools[0].openapi.spec" and "'127.0.0.1'" in error.value.message
    # An agent made before the list was set: its runs are refused when created, naming the tool.
    with pytest.raises(InvalidInput) as error:
        make_run(agent=agent, text='/tool weather_getForecast {"city": "Paris"}')
    assert error.value.param == "tools[0].openapi.spec" and weather_api.requests == []
