"""Writes on agents. Every saved change bumps the version and keeps a copy of the definition."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from agents_admin import validation
from agents_admin.errors import InvalidInput
from agents_admin.models import AGENT_FIELDS, Agent, AgentVersion, ModelConnection, Project, RemoteProject
from agents_admin.selectors.agents import agent_for_name, v2_names_proposed
from agents_admin.services.audit import Actor, audit_record
from agents_admin.services.stores import store_for, store_for_project
from agents_admin.services.tools import tools_check
from agents_admin.services.vector_stores import vector_store_ids_check

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
        hosted = not _mirrored(project_id)
        cleaned["tools"] = validation.validate_tools(fields["tools"], hosted=hosted)
        if hosted:
            tools_check(cleaned["tools"], project_id=project_id)
    if "tool_resources" in fields:
        if fields["tool_resources"] is not None and not isinstance(fields["tool_resources"], dict):
            raise InvalidInput("tool_resources must be an object.", param="tool_resources")
        if not _mirrored(project_id):
            vector_store_ids_check(project_id, fields["tool_resources"])
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


# --- the v2 protocol: agents by name, with immutable versions ------------------------------------------------

# Foundry's rule for agent names: at most 63 characters, letters, digits and hyphens, alphanumeric at both ends.
V2_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def agent_name_check(name: Any, *, param: str = "agent_name") -> str:
    if not isinstance(name, str) or not V2_NAME.match(name):
        raise InvalidInput(
            "An agent name is 1-63 letters, digits and hyphens, starting and ending with a letter or digit.",
            param=param,
        )
    return name


def agent_version_create(
    *,
    project: Project,
    name: str,
    fields: dict[str, Any],
    extra: dict[str, Any] | None = None,
    actor: Actor = None,
    actor_label: str = "",
) -> tuple[Agent, AgentVersion]:
    """A new version of the agent called ``name`` (the agent itself when it is new): always a new version, even
    when nothing changed, as the service does. ``fields`` are agent fields (validated here); ``extra`` are
    definition keys only a version keeps (``tool_choice``).

    ``name`` is the agent's v2 name or, for a classic agent not yet named, its ``asst_`` id.
    """
    cleaned = agent_clean(fields, project_id=project.pk)
    if not cleaned.get("model"):
        raise InvalidInput("definition.model is required.", param="definition.model")
    if RemoteProject.objects.filter(project=project).exists():
        raise InvalidInput(
            "This project mirrors a remote Foundry project; create its agents' versions there.", param="agent_name"
        )
    with transaction.atomic():
        agent = agent_for_name(project=project, name=name, lock=True)
        if agent is None:
            agent = Agent.objects.create(
                project=project, version=1, api_name=agent_name_check(name), **{"name": name, **cleaned}
            )
            action, before = "agent.create", None
        else:
            before = {**agent.snapshot(), "version": agent.version}
            for key, value in cleaned.items():
                setattr(agent, key, value)
            agent.version += 1
            agent.save()
            action = "agent.version_create"
        version = AgentVersion.objects.create(
            agent=agent,
            version=agent.version,
            definition={**agent.snapshot(), **(extra or {})},
            created_by=actor if isinstance(actor, get_user_model()) else None,
        )
        audit_record(
            action=action, actor=actor, actor_label=actor_label, object_type="agent", object_id=agent.id,
            project=project, before=before, after={**agent.snapshot(), "version": agent.version},
        )  # fmt: skip
    return agent, version


def agent_version_delete(*, agent: Agent, version: int, actor: Actor = None, actor_label: str = "") -> None:
    """Delete one version. The agent then serves its newest remaining version; deleting its only version
    deletes the agent (an agent without a version cannot run). Runs keep the version number they ran."""
    with transaction.atomic():
        locked = Agent.objects.select_for_update().get(pk=agent.pk)
        row = AgentVersion.objects.filter(agent=locked, version=version).first()
        if row is None:
            raise InvalidInput(f"Agent {locked.v2_name} has no version {version}.", param="version")
        remaining = AgentVersion.objects.filter(agent=locked).exclude(pk=row.pk).order_by("-version").first()
        if remaining is None:
            agent_delete(agent=locked, actor=actor, actor_label=actor_label)
            return
        row.delete()
        if version == locked.version:
            for key in AGENT_FIELDS:
                if key in remaining.definition:
                    setattr(locked, key, remaining.definition[key])
            locked.version = remaining.version
            locked.save()
        audit_record(
            action="agent.version_delete", actor=actor, actor_label=actor_label, object_type="agent",
            object_id=locked.id, project_id=locked.project_id, before={"version": version, **row.definition},
            after={"latest_version": locked.version},
        )  # fmt: skip


def agents_v2_names_assign(*, actor: Actor = None, actor_label: str = "") -> list[tuple[str, str]]:
    """Give every classic agent without one its proposed v2 name (``v2_names_proposed``), so the v2 protocol
    and its SDK address it by name; its versions, threads and runs are untouched (one store serves both
    protocols). Returns ``(agent id, name)`` pairs; one audit record for the lot."""
    with transaction.atomic():
        plan = v2_names_proposed()
        assigned = []
        for proposal in plan:
            # Conditional: an agent named meanwhile (by the v2 API, or a second click) keeps its name.
            if Agent.objects.filter(pk=proposal.agent.pk, api_name__isnull=True).update(api_name=proposal.name):
                assigned.append((proposal.agent.pk, proposal.name))
        if assigned:
            audit_record(
                action="agent.v2_names_assign", actor=actor, actor_label=actor_label, object_type="agent",
                object_id=f"{len(assigned)} agents", after=dict(assigned),
            )  # fmt: skip
    return assigned
