"""azure-ai-projects 2.x's agent operations, unchanged, on one store with the classic API."""

from __future__ import annotations

import pytest
from azure.ai.projects import AIProjectClient
from azure.ai.projects.models import PromptAgentDefinition
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from django.test import Client
from django.urls import reverse

from agents_admin.models import Agent, AgentVersion
from tests.factories import make_agent

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}


def test_versions_are_created_read_listed_and_deleted(project_client: AIProjectClient) -> None:
    agents = project_client.agents
    first = agents.create_version(
        agent_name="support-bot",
        definition=PromptAgentDefinition(model="gpt-4o", instructions="Be kind.", tools=[WEATHER]),
        description="first cut",
        metadata={"team": "care"},
    )
    assert (first.id, first.name, first.version) == ("support-bot:1", "support-bot", "1")
    assert first.definition["kind"] == "prompt" and first.definition["tools"][0]["name"] == "get_weather"
    assert first.description == "first cut" and first.metadata == {"team": "care"}
    second = agents.create_version(
        agent_name="support-bot", definition=PromptAgentDefinition(model="gpt-4o", instructions="Be brief.")
    )
    assert second.version == "2"
    assert agents.get_version(agent_name="support-bot", agent_version="1").definition["instructions"] == "Be kind."
    assert [v.version for v in agents.list_versions(agent_name="support-bot")] == ["2", "1"]
    agent = agents.get(agent_name="support-bot")
    assert agent.name == "support-bot" and agent.versions["latest"]["version"] == "2"
    # One store: the console's agent is this row, at version 2, with the version history the console shows.
    row = Agent.objects.get(api_name="support-bot")
    assert row.version == 2 and row.instructions == "Be brief."
    assert list(AgentVersion.objects.filter(agent=row).values_list("version", flat=True)) == [2, 1]
    agents.delete_version(agent_name="support-bot", agent_version="2")
    assert agents.get(agent_name="support-bot").versions["latest"]["version"] == "1"
    assert Agent.objects.get(api_name="support-bot").instructions == "Be kind."
    with pytest.raises(ResourceNotFoundError):
        agents.get_version(agent_name="support-bot", agent_version="2")
    agents.delete(agent_name="support-bot")
    with pytest.raises(ResourceNotFoundError):
        agents.get(agent_name="support-bot")
    assert not Agent.objects.filter(api_name="support-bot").exists()


def test_the_list_pages_and_holds_classic_agents_too(project_client: AIProjectClient, admin_client: Client) -> None:
    classic = make_agent(name="Classic helper")
    for index in range(3):
        project_client.agents.create_version(
            agent_name=f"bot-{index}", definition=PromptAgentDefinition(model="gpt-4o")
        )
    names = [a.name for a in project_client.agents.list(limit=2)]
    assert names == ["bot-2", "bot-1", "bot-0", classic.id]
    # The classic agent is addressable by its id, and its saved versions are its v2 versions.
    assert project_client.agents.get(agent_name=classic.id).versions["latest"]["definition"]["model"] == "gpt-4o"
    again = project_client.agents.create_version(
        agent_name=classic.id, definition=PromptAgentDefinition(model="gpt-4o-mini")
    )
    assert again.version == "2" and Agent.objects.get(pk=classic.id).model == "gpt-4o-mini"
    # One console list: classic and v2 agents side by side, a v2 agent with its name.
    page = admin_client.get(reverse("agents_admin:agent_list")).content.decode()
    assert classic.id in page and '<code class="muted">bot-2</code>' in page


def test_bad_names_and_other_kinds_are_refused_as_the_service_refuses_them(project_client: AIProjectClient) -> None:
    with pytest.raises(HttpResponseError) as bad_name:
        project_client.agents.create_version(agent_name="-bad-", definition=PromptAgentDefinition(model="gpt-4o"))
    assert bad_name.value.status_code == 400 and bad_name.value.response.json()["error"]["param"] == "agent_name"
    with pytest.raises(HttpResponseError) as too_long:
        project_client.agents.create_version(agent_name="a" * 64, definition=PromptAgentDefinition(model="gpt-4o"))
    assert too_long.value.status_code == 400
    with pytest.raises(HttpResponseError) as preview:
        project_client.agents.create_version(
            agent_name="flow", definition={"kind": "workflow", "workflow": "kind: workflow"}
        )
    error = preview.value.response.json()["error"]
    assert preview.value.status_code == 403 and error["code"] == "preview_feature_required"
    assert error["param"] == "Foundry-Features" and "WorkflowAgents=V1Preview" in error["message"]
    assert not Agent.objects.filter(api_name__in=["-bad-", "flow"]).exists()
