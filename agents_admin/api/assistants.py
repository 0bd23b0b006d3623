"""Agents, as the wire contract calls them: ``/assistants``."""

from __future__ import annotations

from typing import Any

from django.http.response import HttpResponseBase

from agents_admin.api.base import Call, ok, req_str
from agents_admin.api.errors import not_found
from agents_admin.api.pagination import page
from agents_admin.api.serializers import agent_json, deleted_json
from agents_admin.models import Agent
from agents_admin.services.agents import EDITABLE_FIELDS, agent_create, agent_delete, agent_update


def get_agent(call: Call, agent_id: str) -> Agent:
    agent = Agent.objects.filter(project=call.project, pk=agent_id).first()
    if agent is None:
        raise not_found("assistant", agent_id)
    return agent


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    # Unknown keys are ignored, as the real service does (newer SDKs send fields we do not model).
    return {key: body[key] for key in EDITABLE_FIELDS if key in body}


def create(call: Call) -> HttpResponseBase:
    """Create an agent."""
    req_str(call.body, "model")
    return ok(agent_json(agent_create(project=call.project, actor_label=call.actor_label, **_fields(call.body))))


def list_(call: Call) -> HttpResponseBase:
    """List agents."""
    return ok(page(Agent.objects.filter(project=call.project), call.query, agent_json))


def retrieve(call: Call, agent_id: str) -> HttpResponseBase:
    """Get an agent."""
    return ok(agent_json(get_agent(call, agent_id)))


def update(call: Call, agent_id: str) -> HttpResponseBase:
    """Update an agent: only the fields sent change; ``tools`` replaces the whole list."""
    agent = get_agent(call, agent_id)
    return ok(agent_json(agent_update(agent=agent, actor_label=call.actor_label, **_fields(call.body))))


def delete(call: Call, agent_id: str) -> HttpResponseBase:
    """Delete an agent; its threads and runs stay."""
    agent = get_agent(call, agent_id)
    agent_delete(agent=agent, actor_label=call.actor_label)
    return ok(deleted_json(agent_id, "assistant.deleted"))
