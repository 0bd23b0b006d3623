from __future__ import annotations

import pytest

from agents_admin.errors import InvalidInput
from agents_admin.models import AgentVersion
from agents_admin.services.agents import agent_update
from agents_admin.services.connections import connection_create
from agents_admin.validation import validate_metadata, validate_tools
from tests.factories import WEATHER_TOOL, make_agent, make_project, make_run

pytestmark = pytest.mark.django_db


def test_every_saved_change_is_kept_as_a_version() -> None:
    agent = make_agent(instructions="v1")
    agent = agent_update(agent=agent, instructions="v2")
    agent = agent_update(agent=agent, temperature=0.5)
    assert agent.version == 3
    versions = list(AgentVersion.objects.filter(agent=agent).order_by("version"))
    assert [v.definition["instructions"] for v in versions] == ["v1", "v2", "v2"]
    assert versions[-1].definition["temperature"] == 0.5


def test_a_save_without_changes_keeps_the_version() -> None:
    agent = make_agent()
    agent = agent_update(agent=agent, name=agent.name)
    assert agent.version == 1 and AgentVersion.objects.filter(agent=agent).count() == 1


def test_a_run_records_the_agent_version_it_ran_with() -> None:
    agent = make_agent()
    agent = agent_update(agent=agent, instructions="new")
    run = make_run(agent=agent)
    assert (run.agent_ref, run.agent_version, run.instructions) == (agent.id, 2, "new")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"model": ""}, "model"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "nope"}]}, "tools[0].type"),
        ({"response_format": "none"}, "response_format"),
    ],
)
def test_invalid_fields_are_refused_naming_the_field_and_nothing_changes(fields: dict, param: str) -> None:
    agent = make_agent(instructions="kept")
    with pytest.raises(InvalidInput) as error:
        agent_update(agent=agent, instructions="changed", **fields)
    assert error.value.param == param
    agent.refresh_from_db()
    assert agent.instructions == "kept" and agent.version == 1


def test_metadata_limits() -> None:
    assert validate_metadata({"a" * 64: "b" * 512}) == {"a" * 64: "b" * 512}
    with pytest.raises(InvalidInput, match="longer than 64"):
        validate_metadata({"a" * 65: "x"})
    with pytest.raises(InvalidInput, match="longer than 512"):
        validate_metadata({"k": "x" * 513})
    with pytest.raises(InvalidInput, match="must be a string"):
        validate_metadata({"k": 1})


def test_function_tools_need_a_valid_json_schema() -> None:
    assert validate_tools([WEATHER_TOOL]) == [WEATHER_TOOL]
    bad = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "required": ["x"]}}}
    with pytest.raises(InvalidInput, match="required"):
        validate_tools([bad])
    with pytest.raises(InvalidInput, match="defined twice"):
        validate_tools([WEATHER_TOOL, WEATHER_TOOL])


def test_a_connection_of_another_project_is_refused_naming_the_field() -> None:
    agent = make_agent(name="Kept")
    foreign = connection_create(
        fields={"name": "foreign", "kind": "offline", "auth": "none", "project": make_project("elsewhere")}
    )
    with pytest.raises(InvalidInput) as caught:
        agent_update(agent=agent, name="Changed", connection=foreign)
    assert caught.value.param == "connection"
    agent.refresh_from_db()
    assert agent.name == "Kept" and agent.connection is None and agent.version == 1


def test_an_instance_wide_connection_is_accepted_and_copied_onto_runs() -> None:
    shared = connection_create(fields={"name": "shared", "kind": "offline", "auth": "none"})
    agent = agent_update(agent=make_agent(), connection=shared)
    assert agent.connection == shared and agent.version == 2
    assert make_run(agent=agent).connection == shared
