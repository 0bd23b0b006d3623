"""Reads about agents: the list, one agent, its versions with what each changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import Http404

from agents_admin.lib.v2_definitions import v2_name_unique
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    Agent,
    AgentVersion,
    ModelConnection,
    Project,
    Run,
    Thread,
)


def agent_get(agent_id: str) -> Agent:
    try:
        return Agent.objects.get(pk=agent_id)
    except Agent.DoesNotExist:
        raise Http404(f"No agent {agent_id}.") from None


def agent_for_name(*, project: Project, name: str, lock: bool = False) -> Agent | None:
    """The agent the v2 protocol calls ``name`` in ``project``: by its API name, else by its classic id."""
    agents = Agent.objects.select_for_update() if lock else Agent.objects
    found = agents.filter(project=project, api_name=name).first()
    if found is None and name.startswith("asst_"):
        found = agents.filter(project=project, pk=name).first()
    return found


def agent_list() -> list[Agent]:
    # Agents are few (a project's configuration), so one bounded page is enough for the console.
    return list(Agent.objects.select_related("project").order_by("name", "id")[:500])


@dataclass
class VersionView:
    version: AgentVersion
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


def agent_versions(agent: Agent, limit: int = 50) -> list[VersionView]:
    """The latest versions, newest first, each with the fields it changed relative to the one before.

    A version keeps its model connection by id (the connection may be renamed or deleted later); the page shows
    it as "name (#id)", or "deleted connection (#id)", from one read of the connections named on the page.
    """
    versions = list(AgentVersion.objects.filter(agent=agent).select_related("created_by").order_by("-version")[:limit])
    ids = {v.definition.get("connection") for v in versions if isinstance(v.definition.get("connection"), int)}
    names = dict(ModelConnection.objects.filter(pk__in=ids).values_list("id", "name")) if ids else {}

    def shown(definition: dict[str, Any]) -> dict[str, Any]:
        connection_id = definition.get("connection")
        if not isinstance(connection_id, int):
            return definition
        name = names.get(connection_id, "deleted connection")
        return {**definition, "connection": f"{name} (#{connection_id})"}

    views: list[VersionView] = []
    for index, version in enumerate(versions):
        version.definition = shown(version.definition)  # for display only; never saved
        previous = shown(versions[index + 1].definition) if index + 1 < len(versions) else None
        changes: list[tuple[str, Any, Any]] = []
        if previous is not None:
            for key in version.definition.keys() | previous.keys():
                old, new = previous.get(key), version.definition.get(key)
                if old != new:
                    changes.append((key, old, new))
            changes.sort()
        views.append(VersionView(version=version, changes=changes))
    return views


def agents_for_thread(thread: Thread) -> Any:
    """The agents that may run this thread (its project's), e.g. to validate a run form's choice."""
    return Agent.objects.filter(project_id=thread.project_id).order_by("name", "id")


@dataclass(frozen=True)
class V2Name:
    """A classic agent without a v2 name, and the name the migration proposes for it."""

    agent: Agent
    name: str


def v2_names_proposed(*, limit: int = 500) -> list[V2Name]:
    """Names for the classic agents of local projects that have none yet: each agent's name made a valid v2
    name (letters, digits, hyphens; 63 at most), made unique in its project with ``-2``, ``-3`` … Until then the
    v2 protocol reaches such an agent by its ``asst_`` id; nothing is copied either way."""
    agents = list(
        Agent.objects.filter(api_name__isnull=True, remote_project__isnull=True)
        .only("id", "name", "project_id", "version", "model")
        .order_by("project_id", "created_at", "id")[:limit]
    )
    projects = {a.project_id for a in agents}
    taken: dict[int, set[str]] = {p: set() for p in projects}
    for project_id, api_name in Agent.objects.filter(project_id__in=projects, api_name__isnull=False).values_list(
        "project_id", "api_name"
    ):
        taken[project_id].add((api_name or "").lower())
    proposed = [V2Name(agent=agent, name=v2_name_unique(agent.name, taken[agent.project_id])) for agent in agents]
    return proposed


# Counting an agent's runs stops here: the confirmation says "10,000+" rather than scanning millions.
AGENT_RUNS_COUNT_CAP = 10_000


@dataclass(frozen=True)
class AgentUsage:
    """What refers to an agent, for its delete confirmation."""

    runs: int
    runs_capped: bool
    active_runs: int


def agent_usage(agent: Agent) -> AgentUsage:
    """The agent's runs (counted up to the cap on the run_agent_created index) and its unfinished runs."""
    runs = Run.objects.filter(agent=agent)
    counted = runs.values("pk")[: AGENT_RUNS_COUNT_CAP + 1].count()
    return AgentUsage(
        runs=min(counted, AGENT_RUNS_COUNT_CAP),
        runs_capped=counted > AGENT_RUNS_COUNT_CAP,
        active_runs=runs.filter(status__in=ACTIVE_RUN_STATUSES).count(),
    )
