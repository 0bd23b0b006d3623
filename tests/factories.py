"""Builders for test data: ``make_agent(**overrides)`` and friends, going through the services."""

from __future__ import annotations

from typing import Any

from agents_admin.models import Agent, Message, Project, Run, Thread
from agents_admin.services.agents import agent_create
from agents_admin.services.projects import project_default
from agents_admin.services.runs import run_create
from agents_admin.services.stores import RunOptions
from agents_admin.services.threads import message_create, thread_create

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def make_project(name: str | None = None) -> Project:
    if name is None:
        return project_default()
    return Project.objects.get_or_create(name=name, defaults={"display_name": name.title()})[0]


def make_agent(**overrides: Any) -> Agent:
    fields: dict[str, Any] = {"name": "Helper", "model": "gpt-4o", "instructions": "You are helpful."}
    fields.update(overrides)
    project = fields.pop("project", None) or make_project()
    return agent_create(project=project, **fields)


def make_thread(*, project: Project | None = None, messages: list[str] | None = None, **fields: Any) -> Thread:
    thread = thread_create(project=project or make_project(), **fields)
    for text in messages or []:
        message_create(thread=thread, role="user", content=text)
    thread.refresh_from_db()
    return thread


def make_message(thread: Thread, text: str = "Hello", role: str = "user") -> Message:
    return message_create(thread=thread, role=role, content=text)


def make_run(*, thread: Thread | None = None, agent: Agent | None = None, text: str = "Hello", **fields: Any) -> Run:
    """A queued run; the task is sent on commit, so without a worker it simply waits."""
    agent = agent or make_agent()
    if thread is None:
        thread = make_thread(project=agent.project, messages=[text])
    actor, actor_label = fields.pop("actor", None), fields.pop("actor_label", "")
    return run_create(thread=thread, agent=agent, actor=actor, actor_label=actor_label, options=RunOptions(**fields))
