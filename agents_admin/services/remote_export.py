"""Export of a remote project, read live from the remote, as JSON Lines (for migration off classic agents).

One object per line, ``{"type": "agent"|"thread"|"message"|"run"|"run_step", "remote_project": name,
"data": <the remote object as the API returned it>}``; a thread's messages, runs and steps follow the thread
line. Streamed: memory stays bounded by one page of 100 objects, whatever the project's size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from agents_admin.models import RemoteProject, Thread
from agents_admin.remote.connection import remote_client
from agents_admin.remote.foundry import FoundryClient, FoundryError, FoundryNotFound


def _line(kind: str, remote: RemoteProject, data: dict[str, Any]) -> str:
    return json.dumps({"type": kind, "remote_project": remote.name, "data": data}, ensure_ascii=False) + "\n"


def _thread_ids(client: FoundryClient, remote: RemoteProject) -> Iterator[str]:
    """Every thread id the remote lists; without a listing (some api-versions), the ids mirrored here."""
    try:
        for page in client.threads():
            for thread in page:
                yield thread["id"]
    except FoundryNotFound:
        known = Thread.objects.filter(remote_project=remote, remote_deleted_at__isnull=True, remote_id__isnull=False)
        for remote_id in known.order_by("pk").values_list("remote_id", flat=True).iterator(chunk_size=1000):
            yield str(remote_id)


def remote_project_export_lines(*, remote: RemoteProject) -> Iterator[str]:
    """The JSON Lines of ``remote``. Raises FoundryError when the remote fails after retries."""
    client = remote_client(remote)
    for agent in client.agents():
        yield _line("agent", remote, agent)
    for thread_id in _thread_ids(client, remote):
        try:
            thread = client.thread_get(thread_id)
        except FoundryNotFound:
            continue  # deleted since it was listed
        yield _line("thread", remote, thread)
        for message in client.messages(thread_id):
            yield _line("message", remote, message)
        for run in client.runs(thread_id):
            yield _line("run", remote, run)
            for step in client.run_steps(thread_id, run["id"]):
                yield _line("run_step", remote, step)


def remote_project_export_stream(*, remote: RemoteProject) -> Iterator[str]:
    """The lines for an HTTP download: the status is sent before the first line, so a remote failure on the
    way ends the file with an ``{"type": "error"}`` line instead of an error page."""
    try:
        yield from remote_project_export_lines(remote=remote)
    except FoundryError as exc:
        yield json.dumps({"type": "error", "remote_project": remote.name, "error": str(exc)}) + "\n"
