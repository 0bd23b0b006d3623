"""Writes on agents. Every saved change bumps the version and keeps a copy of the definition."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction

from agents_admin import validation
from agents_admin.models import Agent, AgentVersion, Project, RemoteProject
from agents_admin.services import remote
from agents_admin.services.errors import InvalidInput

EDITABLE_FIELDS = (
    "name",
    "description",
    "model",
    "instructions",
    "tools",
    "tool_resources",
    "temperature",
    "top_p",
    "response_format",
    "metadata",
)

User = AbstractBaseUser | AnonymousUser | None


def agent_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Validated, normalised agent fields; raises InvalidInput naming the first bad field."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
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
    return cleaned


def agent_create(*, project: Project, user: User = None, **fields: Any) -> Agent:
    cleaned = agent_clean(fields)
    if not cleaned.get("model"):
        raise InvalidInput("model is required.", param="model")
    remote_project = RemoteProject.objects.filter(project=project).first()
    if remote_project is not None:  # a remote project's namespace: created there, then mirrored
        return remote.remote_agent_create(remote=remote_project, **cleaned)
    with transaction.atomic():
        agent = Agent.objects.create(project=project, version=1, **cleaned)
        _version_record(agent, user)
    return agent


def agent_update(*, agent: Agent, user: User = None, **fields: Any) -> Agent:
    """Apply changed fields. A save that changes nothing keeps the version number."""
    cleaned = agent_clean(fields)
    changed = {k: v for k, v in cleaned.items() if getattr(agent, k) != v}
    if not changed:
        return agent
    if agent.remote_project_id is not None:  # mirrored: changed on the remote, then mirrored (a new version)
        return remote.remote_agent_update(agent=agent, **changed)
    with transaction.atomic():
        locked = Agent.objects.select_for_update().get(pk=agent.pk)
        for key, value in changed.items():
            setattr(locked, key, value)
        locked.version += 1
        locked.save(update_fields=[*changed, "version", "updated_at"])
        _version_record(locked, user)
    return locked


def agent_delete(*, agent: Agent) -> None:
    """Delete an agent and its versions. Threads and runs stay; runs keep the agent id and version."""
    if agent.remote_project_id is not None:  # mirrored: deleted on the remote first
        return remote.remote_agent_delete(agent=agent)
    agent.delete()


def _version_record(agent: Agent, user: User) -> None:
    AgentVersion.objects.create(
        agent=agent,
        version=agent.version,
        definition=agent.snapshot(),
        created_by=user if isinstance(user, get_user_model()) else None,
    )
