"""Builders for retention tests: aged threads with finished runs and steps, and policies."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from agents_admin.models import Agent, Project, RetentionPolicy, Run, RunStep, Thread, VectorStore, VectorStoreFile
from agents_admin.services.files import file_create
from agents_admin.services.retention import policy_next_run, policy_save
from agents_admin.services.vector_stores import vector_store_create, vector_store_file_index
from tests.documents import NOTES_MARKDOWN
from tests.factories import make_project, make_thread


def make_aged_thread(
    *,
    days: float,
    messages: int = 2,
    project: Project | None = None,
    agent: Agent | None = None,
    runs: int = 0,
    metadata: dict[str, str] | None = None,
    created_days: float | None = None,
) -> Thread:
    """A thread last active ``days`` ago (created ``created_days`` ago), with finished runs of one step each."""
    thread = make_thread(
        project=project or make_project(), messages=[f"m{i}" for i in range(messages)], metadata=metadata
    )
    for _ in range(runs):
        run = Run.objects.create(
            thread=thread,
            agent=agent,
            agent_ref=agent.id if agent else "asst_x",
            agent_version=1,
            model="gpt-4o",
            status="completed",
            expires_at=timezone.now(),
        )
        RunStep.objects.create(run=run, thread=thread, type="message_creation", status="completed")
    at = timezone.now() - timedelta(days=days)
    created = timezone.now() - timedelta(days=created_days if created_days is not None else days)
    Thread.objects.filter(pk=thread.pk).update(last_activity_at=at, created_at=created, last_agent=agent)
    thread.refresh_from_db()
    return thread


def make_policy(*, enabled: bool = True, **fields: Any) -> RetentionPolicy:
    """A policy, enabled by default: a new policy is saved disabled, and the fixture schedules it directly, as a
    person would after its dry run (tests of that rule build their policies with ``enabled=False``)."""
    values: dict[str, Any] = {
        "policy": None,
        "actor": None,
        "name": "Stale threads",
        "project": None,
        "days": 30,
        "daily_at": time(3, 0),
    }
    values.update(fields)
    policy = policy_save(**values)
    if enabled:
        next_run_at = policy_next_run(policy=policy, after=timezone.now())
        RetentionPolicy.objects.filter(pk=policy.pk).update(enabled=True, next_run_at=next_run_at)
        policy.refresh_from_db()
    return policy


def indexed_store(project: Project, *, idle_days: float, files: int = 1, **fields: Any) -> VectorStore:
    """A store of ``files`` indexed Markdown files, last searched ``idle_days`` ago."""
    uploads = [
        file_create(project=project, upload=SimpleUploadedFile(f"notes{i}.md", NOTES_MARKDOWN.encode()),
                    purpose="assistants")
        for i in range(files)
    ]  # fmt: skip
    store = vector_store_create(project=project, name=f"idle {idle_days}", file_ids=[f.id for f in uploads], **fields)
    for entry_id in VectorStoreFile.objects.filter(vector_store=store).values_list("id", flat=True):
        vector_store_file_index(entry_id=entry_id)
    VectorStore.objects.filter(pk=store.pk).update(last_active_at=timezone.now() - timedelta(days=idle_days))
    store.refresh_from_db()
    return store
