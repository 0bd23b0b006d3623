"""Writes on agents. Every saved change bumps the version and keeps a copy of the definition."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction

from agents_admin import validation
from agents_admin.errors import InvalidInput
from agents_admin.models import AGENT_FIELDS, Agent, AgentVersion, ModelConnection, Project, RemoteProject
from agents_admin.services import remote
from agents_admin.services.audit import audit_record, changed_fields

EDITABLE_FIELDS = AGENT_FIELDS
# Console-only: which connection runs go to. Not part of the Foundry wire contract, so the API never takes it.
CONSOLE_FIELDS = ("connection",)

User = AbstractBaseUser | AnonymousUser | None


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
        cleaned["tools"] = validation.validate_tools(fields["tools"])
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


def _clean_connection(value: Any, *, project_id: int | None) -> ModelConnection | None:
    if value is None:
        return None
    if not isinstance(value, ModelConnection):
        raise InvalidInput("connection must be a model connection.", param="connection")
    if value.project_id is not None and value.project_id != project_id:
        raise InvalidInput(f"Connection '{value.name}' belongs to another project.", param="connection")
    return value


def _remote_fields(cleaned: dict[str, Any]) -> dict[str, Any]:
    # A remote project's agents run on the remote, so a local connection means nothing there.
    if cleaned.get("connection") is not None:
        raise InvalidInput("Agents of a remote Foundry project run there and take no connection.", param="connection")
    return {k: v for k, v in cleaned.items() if k != "connection"}


def agent_create(
    *, project: Project, user: User = None, actor: User = None, actor_label: str = "", **fields: Any
) -> Agent:
    """A new agent at version 1. ``actor`` (or the older ``user``) is who the audit log names."""
    actor = actor if actor is not None else user
    cleaned = agent_clean(fields, project_id=project.pk)
    if not cleaned.get("model"):
        raise InvalidInput("model is required.", param="model")
    remote_project = RemoteProject.objects.filter(project=project).first()
    if remote_project is not None:  # a remote project's namespace: created there, then mirrored
        return remote.remote_agent_create(remote=remote_project, **_remote_fields(cleaned))
    with transaction.atomic():
        agent = Agent.objects.create(project=project, version=1, **cleaned)
        _version_record(agent, actor)
        audit_record(
            action="agent.create", actor=actor, actor_label=actor_label, object_type="agent", object_id=agent.id,
            project=project, after=agent.snapshot(),
        )  # fmt: skip
    return agent


def agent_update(*, agent: Agent, user: User = None, actor: User = None, actor_label: str = "", **fields: Any) -> Agent:
    """Apply changed fields. A save that changes nothing keeps the version number and writes no audit record."""
    actor = actor if actor is not None else user
    cleaned = agent_clean(fields, project_id=agent.project_id)
    changed = {k: v for k, v in cleaned.items() if getattr(agent, k) != v}
    if not changed:
        return agent
    if agent.remote_project_id is not None:  # mirrored: changed on the remote, then mirrored (a new version)
        return remote.remote_agent_update(agent=agent, **_remote_fields(changed))
    with transaction.atomic():
        locked = Agent.objects.select_for_update().get(pk=agent.pk)
        before = locked.snapshot()
        for key, value in changed.items():
            setattr(locked, key, value)
        locked.version += 1
        locked.save(update_fields=[*changed, "version", "updated_at"])
        _version_record(locked, actor)
        old, new = changed_fields(before, locked.snapshot())
        audit_record(
            action="agent.update", actor=actor, actor_label=actor_label, object_type="agent", object_id=locked.id,
            project_id=locked.project_id, before={**old, "version": locked.version - 1},
            after={**new, "version": locked.version},
        )  # fmt: skip
    return locked


def agent_delete(*, agent: Agent, actor: User = None, actor_label: str = "") -> None:
    """Delete an agent and its versions. Threads and runs stay; runs keep the agent id and version."""
    with transaction.atomic():
        audit_record(
            action="agent.delete", actor=actor, actor_label=actor_label, object_type="agent", object_id=agent.id,
            project_id=agent.project_id, before={**agent.snapshot(), "version": agent.version},
        )  # fmt: skip
        if agent.remote_project_id is not None:  # mirrored: deleted on the remote first
            remote.remote_agent_delete(agent=agent)
        else:
            agent.delete()


def _version_record(agent: Agent, user: User) -> None:
    AgentVersion.objects.create(
        agent=agent,
        version=agent.version,
        definition=agent.snapshot(),
        created_by=user if isinstance(user, get_user_model()) else None,
    )
