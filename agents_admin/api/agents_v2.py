"""Agents of the v2 protocol: ``/agents/{name}`` with immutable ``/versions``.

A classic ``asst_`` agent is the same row: it is listed here too, addressed by its API name or by its id, and
its saved versions are its v2 versions.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http.response import HttpResponseBase

from agents_admin.api.base import Call, ok, opt_dict, opt_str
from agents_admin.api.errors import ApiError, not_found
from agents_admin.api.pagination import page
from agents_admin.api.v2_shapes import (
    DEFINITION_KEYS,
    agent_json,
    agent_version_json,
    agents_json,
    invalid_payload,
)
from agents_admin.lib.v2_definitions import definition_fields
from agents_admin.models import Agent, AgentVersion
from agents_admin.selectors.agents import agent_for_name
from agents_admin.services.agents import agent_delete, agent_name_check, agent_version_create, agent_version_delete

# Kinds other than "prompt" are previews the service gates behind a Foundry-Features header.
_PREVIEW_FEATURES = {"hosted": "HostedAgents", "workflow": "WorkflowAgents", "container_app": "ContainerAgents"}


def get_named_agent(call: Call, name: str) -> Agent:
    agent = agent_for_name(project=call.project, name=name)
    if agent is None:
        raise not_found("agent", name)
    return agent


def _definition_fields(call: Call, definition: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A prompt definition -> (agent fields, keys only the version keeps). Other kinds: the service's 403."""
    kind = definition.get("kind")
    if kind != "prompt":
        if not isinstance(kind, str) or not kind:
            raise invalid_payload("definition.kind is required ('prompt').", param="definition.kind")
        feature = _PREVIEW_FEATURES.get(kind, f"{kind.title().replace('_', '')}Agents")
        if "Foundry-Features" not in call.request.headers:
            raise ApiError(
                403,
                "preview_feature_required",
                f"Agents of kind '{kind}' are a preview feature. Include the 'Foundry-Features: "
                f"{feature}=V1Preview' header to use it.",
                param="Foundry-Features",
                type_="invalid_request_error",
            )
        raise invalid_payload(
            f"Agents of kind '{kind}' are not served here; this service runs 'prompt' agents.",
            param="definition.kind",
        )
    unknown = sorted(set(definition) - {"kind", *DEFINITION_KEYS})
    if unknown:
        raise invalid_payload(f"Unknown definition field '{unknown[0]}'.", param=f"definition.{unknown[0]}")
    try:
        fields = definition_fields(definition)
    except ValueError as exc:  # the only field the shared parser can refuse is ``text``
        raise invalid_payload(str(exc), param="definition.text") from None
    extra = {"tool_choice": definition["tool_choice"]} if definition.get("tool_choice") is not None else {}
    return fields, extra


def version_create(call: Call, agent_name: str) -> HttpResponseBase:
    """Create a version of an agent (the agent too, when the name is new)."""
    if agent_for_name(project=call.project, name=agent_name) is None:
        agent_name_check(agent_name)
    definition = opt_dict(call.body, "definition")
    if definition is None:
        raise invalid_payload("definition is required.", param="definition")
    fields, extra = _definition_fields(call, definition)
    if "description" in call.body:
        fields["description"] = opt_str(call.body, "description") or ""
    if "metadata" in call.body:
        fields["metadata"] = call.body["metadata"]
    agent, version = agent_version_create(
        project=call.project, name=agent_name, fields=fields, extra=extra, actor_label=call.actor_label
    )
    return ok(agent_version_json(agent, version))


def _version_number(raw: str, *, param: str = "version") -> int:
    number = raw.rsplit(":", 1)[-1]
    if not number.isdigit():
        raise ApiError(404, "not_found", f"No version '{raw}'.", param=param)
    return int(number)


def version_list(call: Call, agent_name: str) -> HttpResponseBase:
    """List an agent's versions (newest first by default)."""
    agent = get_named_agent(call, agent_name)

    def locate(cursor: str) -> Q:
        return Q(version=_version_number(cursor, param="after"))

    return ok(
        page(
            AgentVersion.objects.filter(agent=agent),
            call.query,
            lambda version: agent_version_json(agent, version),
            keys=("version",),
            locate=locate,
        )
    )


def _get_version(call: Call, agent_name: str, version: str) -> tuple[Agent, AgentVersion]:
    agent = get_named_agent(call, agent_name)
    row = AgentVersion.objects.filter(agent=agent, version=_version_number(version)).first()
    if row is None:
        raise not_found("agent version", f"{agent_name}:{version}")
    return agent, row


def version_retrieve(call: Call, agent_name: str, version: str) -> HttpResponseBase:
    """Get one version of an agent."""
    return ok(agent_version_json(*_get_version(call, agent_name, version)))


def version_delete(call: Call, agent_name: str, version: str) -> HttpResponseBase:
    """Delete one version (the last one takes the agent with it)."""
    agent, row = _get_version(call, agent_name, version)
    agent_version_delete(agent=agent, version=row.version, actor_label=call.actor_label)
    return ok({"object": "agent.version.deleted", "name": agent_name, "version": str(row.version), "deleted": True})


def retrieve(call: Call, agent_name: str) -> HttpResponseBase:
    """Get an agent with its latest version."""
    agent = get_named_agent(call, agent_name)
    return ok(agent_json(agent, AgentVersion.objects.filter(agent=agent, version=agent.version).first()))


def delete(call: Call, agent_name: str) -> HttpResponseBase:
    """Delete an agent with all its versions; its conversations and runs stay."""
    agent = get_named_agent(call, agent_name)
    agent_delete(agent=agent, actor_label=call.actor_label)
    return ok({"object": "agent.deleted", "name": agent_name, "deleted": True})


def list_(call: Call) -> HttpResponseBase:
    """List the project's agents, classic ones included (``kind=prompt``: all of them are prompt agents)."""
    kind = call.query.get("kind")
    agents = Agent.objects.filter(project=call.project)
    if kind and kind != "prompt":
        agents = agents.none()

    def locate(cursor: str) -> Q:
        return Q(api_name=cursor) | Q(pk=cursor, api_name__isnull=True)

    return ok(page(agents, call.query, lambda a: a, locate=locate, serialize_many=agents_json))
