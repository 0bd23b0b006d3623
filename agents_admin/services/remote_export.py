"""Export of a remote project, read live from the remote, as JSON Lines (for migration off classic agents).

Two forms, both streamed (memory stays bounded by one page of 100 objects, whatever the project's size):

- ``classic``, the record: one object per line, ``{"type": "agent"|"thread"|"message"|"run"|"run_step",
  "remote_project": name, "data": <the remote object as the API returned it>}``; a thread's messages, runs and
  steps follow the thread line.
- ``v2``, what the v2 surface imports (``manage.py import_v2_export``, here or on any Foundry project): each line
  carries the body of one v2 request. ``agent.version`` lines (``name``, ``body`` for
  ``POST /agents/{name}/versions``), then per thread a ``conversation`` line (``body`` for
  ``POST /openai/v1/conversations`` with its first 20 message items) and ``conversation.items`` lines (the next
  20 each, for ``POST /openai/v1/conversations/{id}/items``). Each line names its classic ``source_id`` and what
  could not travel (``dropped``: tools and images that name the source project's resources). Runs and steps
  have no v2 import; they stay in the classic record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import batched
from typing import Any

from agents_admin.lib.v2_definitions import classic_agent_definition, classic_message_item, v2_name_unique
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


# Items per conversation request, as the service allows.
V2_ITEMS_PER_REQUEST = 20


def _v2_line(kind: str, remote: RemoteProject, source_id: str, body: dict[str, Any], **extra: Any) -> str:
    line = {"type": kind, "remote_project": remote.name, "source_id": source_id, **extra, "body": body}
    return json.dumps(line, ensure_ascii=False) + "\n"


def remote_project_v2_export_lines(*, remote: RemoteProject) -> Iterator[str]:
    """The v2 JSON Lines of ``remote`` (see the module's docstring). Raises FoundryError after retries."""
    client = remote_client(remote)
    names: set[str] = set()
    for agent in client.agents(order="asc"):
        definition, dropped = classic_agent_definition(agent)
        body: dict[str, Any] = {"definition": definition, "metadata": dict(agent.get("metadata") or {})}
        if agent.get("description"):
            body["description"] = agent["description"]
        name = v2_name_unique(agent.get("name"), names)
        yield _v2_line("agent.version", remote, agent["id"], body, name=name, dropped=dropped)
    for thread_id in _thread_ids(client, remote):
        try:
            thread = client.thread_get(thread_id)
        except FoundryNotFound:
            continue  # deleted since it was listed
        converted = (classic_message_item(message) for message in client.messages(thread_id))
        kind, metadata = "conversation", dict(thread.get("metadata") or {})
        for batch in batched(converted, V2_ITEMS_PER_REQUEST):
            items = [item for item, _ in batch]
            dropped = [part for _, parts in batch for part in parts]
            body = {"metadata": metadata, "items": items} if kind == "conversation" else {"items": items}
            yield _v2_line(kind, remote, thread_id, body, dropped=dropped)
            kind = "conversation.items"
        if kind == "conversation":  # a thread without messages is still a conversation
            yield _v2_line(kind, remote, thread_id, {"metadata": metadata, "items": []}, dropped=[])


EXPORT_FORMATS = ("classic", "v2")


def remote_project_export_stream(*, remote: RemoteProject, fmt: str = "classic") -> Iterator[str]:
    """The lines for an HTTP download: the status is sent before the first line, so a remote failure on the
    way ends the file with an ``{"type": "error"}`` line instead of an error page."""
    lines = remote_project_v2_export_lines if fmt == "v2" else remote_project_export_lines
    try:
        yield from lines(remote=remote)
    except FoundryError as exc:
        yield json.dumps({"type": "error", "remote_project": remote.name, "error": str(exc)}) + "\n"
