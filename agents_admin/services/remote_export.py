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

from agents_admin.lib.v2_definitions import (
    classic_agent_definition,
    classic_message_item,
    v2_definition_portable,
    v2_message_item,
    v2_name_unique,
)
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


def _threads(client: FoundryClient, remote: RemoteProject, seen: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each thread the remote lists, read whole (one deleted since it was listed is passed over); its id is added
    to ``seen``, so the conversations that are those threads are not exported again."""
    for thread_id in _thread_ids(client, remote):
        try:
            thread = client.thread_get(thread_id)
        except FoundryNotFound:
            continue
        seen.add(thread_id)
        yield thread_id, thread


def _v2_agents(client: FoundryClient, classic_ids: set[str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The remote's v2 agents with their versions (oldest first), but those that are classic agents seen through
    the v2 protocol (their ``agent_guid`` is a classic id already exported); none from a remote without v2."""
    try:
        listed = list(client.agents_v2())
    except FoundryNotFound:
        return
    for obj in listed:
        name = str(obj.get("name") or "")
        guid = ((obj.get("versions") or {}).get("latest") or {}).get("agent_guid")
        if name and not name.startswith("asst_") and guid not in classic_ids:
            yield name, list(client.agent_versions_v2(name))


def _v2_conversations(client: FoundryClient, thread_ids: set[str]) -> Iterator[dict[str, Any]]:
    """The remote's conversations that are not classic threads already exported (a remote serving both protocols
    on one store lists its threads as conversations too); none from a remote without Foundry's list."""
    try:
        for page in client.conversations():
            yield from (conversation for conversation in page if conversation["id"] not in thread_ids)
    except FoundryNotFound:
        return


def _conversation_items(client: FoundryClient, conversation_id: str) -> Iterator[dict[str, Any]]:
    try:
        for page in client.conversation_items(conversation_id):
            yield from page
    except FoundryNotFound:
        return  # deleted since it was listed


def remote_project_export_lines(*, remote: RemoteProject) -> Iterator[str]:
    """The JSON Lines of ``remote``: classic agents, threads and their children, then what only the v2 protocol
    reaches (``agent_version`` and ``conversation`` lines, each conversation followed by its ``item`` lines).
    Raises FoundryError when the remote fails after retries."""
    client = remote_client(remote)
    classic_ids: set[str] = set()
    for agent in client.agents():
        classic_ids.add(agent["id"])
        yield _line("agent", remote, agent)
    thread_ids: set[str] = set()
    for thread_id, thread in _threads(client, remote, thread_ids):
        yield _line("thread", remote, thread)
        for message in client.messages(thread_id):
            yield _line("message", remote, message)
        for run in client.runs(thread_id):
            yield _line("run", remote, run)
            for step in client.run_steps(thread_id, run["id"]):
                yield _line("run_step", remote, step)
    for _name, versions in _v2_agents(client, classic_ids):
        for version in versions:
            yield _line("agent_version", remote, version)
    for conversation in _v2_conversations(client, thread_ids):
        yield _line("conversation", remote, conversation)
        for item in _conversation_items(client, conversation["id"]):
            yield _line("item", remote, item)


# Items per conversation request, as the service allows.
V2_ITEMS_PER_REQUEST = 20


def _v2_line(kind: str, remote: RemoteProject, source_id: str, body: dict[str, Any], **extra: Any) -> str:
    line = {"type": kind, "remote_project": remote.name, "source_id": source_id, **extra, "body": body}
    return json.dumps(line, ensure_ascii=False) + "\n"


def _conversation_lines(
    remote: RemoteProject,
    source_id: str,
    metadata: dict[str, Any],
    converted: Iterator[tuple[dict[str, Any], list[str]]],
) -> Iterator[str]:
    """A conversation's lines: the create with its first 20 items, then 20 more per line."""
    kind = "conversation"
    for batch in batched(converted, V2_ITEMS_PER_REQUEST):
        items = [item for item, _ in batch]
        dropped = [part for _, parts in batch for part in parts]
        body = {"metadata": metadata, "items": items} if kind == "conversation" else {"items": items}
        yield _v2_line(kind, remote, source_id, body, dropped=dropped)
        kind = "conversation.items"
    if kind == "conversation":  # a thread without messages is still a conversation
        yield _v2_line(kind, remote, source_id, {"metadata": metadata, "items": []}, dropped=[])


def remote_project_v2_export_lines(*, remote: RemoteProject) -> Iterator[str]:
    """The v2 JSON Lines of ``remote`` (see the module's docstring): classic agents and threads converted, and
    the remote's own v2 agents (every version) and conversations as they are. Raises FoundryError after retries."""
    client = remote_client(remote)
    names: set[str] = set()
    classic_ids: set[str] = set()
    for agent in client.agents(order="asc"):
        classic_ids.add(agent["id"])
        definition, dropped = classic_agent_definition(agent)
        body: dict[str, Any] = {"definition": definition, "metadata": dict(agent.get("metadata") or {})}
        if agent.get("description"):
            body["description"] = agent["description"]
        name = v2_name_unique(agent.get("name"), names)
        yield _v2_line("agent.version", remote, agent["id"], body, name=name, dropped=dropped)
    for name, versions in _v2_agents(client, classic_ids):
        for version in versions:
            definition, dropped = v2_definition_portable(version.get("definition") or {})
            body = {"definition": definition, "metadata": dict(version.get("metadata") or {})}
            if version.get("description"):
                body["description"] = version["description"]
            yield _v2_line(
                "agent.version", remote, f"{name}:{version.get('version')}", body, name=name, dropped=dropped
            )
    thread_ids: set[str] = set()
    for thread_id, thread in _threads(client, remote, thread_ids):
        converted = (classic_message_item(message) for message in client.messages(thread_id))
        yield from _conversation_lines(remote, thread_id, dict(thread.get("metadata") or {}), converted)
    for conversation in _v2_conversations(client, thread_ids):
        items = (v2_message_item(item) for item in _conversation_items(client, conversation["id"]))
        metadata = dict(conversation.get("metadata") or {})
        yield from _conversation_lines(remote, conversation["id"], metadata, (pair for pair in items if pair))


EXPORT_FORMATS = ("classic", "v2")


def remote_project_export_stream(*, remote: RemoteProject, fmt: str = "classic") -> Iterator[str]:
    """The lines for an HTTP download: the status is sent before the first line, so a remote failure on the
    way ends the file with an ``{"type": "error"}`` line instead of an error page."""
    lines = remote_project_v2_export_lines if fmt == "v2" else remote_project_export_lines
    try:
        yield from lines(remote=remote)
    except FoundryError as exc:
        yield json.dumps({"type": "error", "remote_project": remote.name, "error": str(exc)}) + "\n"
