"""Writes on agents. Every saved change bumps the version and keeps a copy of the definition."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents_admin import validation
from agents_admin.errors import InvalidInput
from agents_admin.models import AGENT_FIELDS, Agent, ModelConnection, Project, RemoteProject
from agents_admin.services.audit import Actor, audit_record
from agents_admin.services.stores import store_for, store_for_project

EDITABLE_FIELDS = AGENT_FIELDS
# Console-only: which connection runs go to. Not part of the Foundry wire contract, so the API never takes it.
CONSOLE_FIELDS = ("connection",)


def agent_clean(fields: dict[str, Any], *, project_id: int | None = None) -> dict[str, Any]:
    """Validated, normalised agent fields; raises InvalidInput naming the first bad field.

    ``project_id`` is the agent's project: a connection must be that project's or instance-wide.
    """
    unknown = set(fields) - {*EDITABLE_FIELDS, *CONSOLE_FIELDS}
    if unknown:
        raise InvalidInput(f"Unknown field '{sorted(unknown)[0]}'.", param=sorted(unknown)[0])
    cleaned: dict[str, Any] = {}
    if "name" in fields:
        cleaned["name"] = validation.validate_name(fields["name"], param="name")
    if "description" in fields:
        cleaned["description"] = validation.validate_name(fields["description"], param="description", max_length=512)
    if "model" in fields:
        cleaned["model"] = validation.validate_name(fields["model"], param="model", required=True)
    if "instructions" in fields:
        cleaned["instructions"] = validation.validate_name(
            fields["instructions"], param="instructions", max_length=256_000
        )
    if "tools" in fields:
        cleaned["tools"] = validation.validate_tools(fields["tools"], hosted=not _mirrored(project_id))
    if "tool_resources" in fields:
        if fields["tool_resources"] is not None and not isinstance(fields["tool_resources"], dict):
            raise InvalidInput("tool_resources must be an object.", param="tool_resources")
        cleaned["tool_resources"] = fields["tool_resources"]
    if "temperature" in fields:
        cleaned["temperature"] = validation.validate_range(fields["temperature"], param="temperature", low=0, high=2)
    if "top_p" in fields:
        cleaned["top_p"] = validation.validate_range(fields["top_p"], param="top_p", low=0, high=1)
    if "response_format" in fields:
        cleaned["response_format"] = validation.validate_response_format(fields["response_format"])
    if "metadata" in fields:
        cleaned["metadata"] = validation.validate_metadata(fields["metadata"])
    if "connection" in fields:
        cleaned["connection"] = _clean_connection(fields["connection"], project_id=project_id)
    return cleaned


def _mirrored(project_id: int | None) -> bool:
    """A remote Foundry project's agents run there, with every tool the remote has."""
    return project_id is not None and RemoteProject.objects.filter(project_id=project_id).exists()


def _clean_connection(value: Any, *, project_id: int | None) -> ModelConnection | None:
    if value is None:
        return None
    if not isinstance(value, ModelConnection):
        raise InvalidInput("connection must be a model connection.", param="connection")
    if value.project_id is not None and value.project_id != project_id:
        raise InvalidInput(f"Connection '{value.name}' belongs to another project.", param="connection")
    return value


def agent_create(*, project: Project, actor: Actor = None, actor_label: str = "", **fields: Any) -> Agent:
    """A new agent at version 1 (in a remote project: created there, then mirrored)."""
    cleaned = agent_clean(fields, project_id=project.pk)
    if not cleaned.get("model"):
        raise InvalidInput("model is required.", param="model")
    return store_for_project(project).agent_create(
        project=project, fields=cleaned, actor=actor, actor_label=actor_label
    )


def agent_update(*, agent: Agent, actor: Actor = None, actor_label: str = "", **fields: Any) -> Agent:
    """Apply changed fields. A save that changes nothing keeps the version number and writes no audit record."""
    cleaned = agent_clean(fields, project_id=agent.project_id)
    changed = {k: v for k, v in cleaned.items() if getattr(agent, k) != v}
    if not changed:
        return agent
    return store_for(agent).agent_update(agent=agent, changed=changed, actor=actor, actor_label=actor_label)


def agent_delete(*, agent: Agent, actor: Actor = None, actor_label: str = "") -> None:
    """Delete an agent and its versions (a mirrored one on the remote first). Threads and runs stay; runs keep
    the agent id and version."""
    with transaction.atomic():
        audit_record(
            action="agent.delete", actor=actor, actor_label=actor_label, object_type="agent", object_id=agent.id,
            project_id=agent.project_id, before={**agent.snapshot(), "version": agent.version},
        )  # fmt: skip
        store_for(agent).agent_delete(agent=agent)
