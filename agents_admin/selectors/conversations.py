"""Reads of the v2 protocol's conversations, which are threads: a project's conversations with an agent."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from agents_admin.models import Agent, Project, Run, Thread


def conversations_of(*, project: Project, agent: Agent | None = None, version: int | None = None) -> QuerySet[Thread]:
    """The project's threads, or those where ``agent`` (at ``version``, when given) has run. The probe per thread
    is an index lookup (run_thread_created), and pages walk the threads in creation order."""
    threads = Thread.objects.filter(project=project)
    if agent is not None:
        runs = Run.objects.filter(thread=OuterRef("pk"), agent=agent)
        if version is not None:
            runs = runs.filter(agent_version=version)
        threads = threads.filter(Exists(runs))
    return threads
