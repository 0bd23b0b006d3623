"""Import of a v2 export (``services/remote_export.py``, form ``v2``) into any project that speaks the v2
protocol: this service's own, or a Foundry project on Azure. Each line is sent as the v2 request it carries.

Resumable: every object created is reported through ``on_progress`` (the command appends it to a progress file)
with how many of a conversation's items have arrived, and a later import of the same file with that progress
skips what is done: no agent version or conversation is created twice, and a conversation cut halfway goes on
from its next item.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agents_admin.errors import InvalidInput
from agents_admin.remote.foundry import FoundryClient


@dataclass
class Imported:
    """One source object already imported: the id it has at the target, and (conversations) its items there."""

    target_id: str
    items: int = 0


ProgressCallback = Callable[[str, Imported], None]
V2_LINE_TYPES = ("agent.version", "conversation", "conversation.items")


def _parse(number: int, text: str) -> dict:
    try:
        line = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"Line {number} is not JSON ({exc.msg}).", param=f"line {number}") from exc
    if not isinstance(line, dict):
        raise InvalidInput(f"Line {number} is not a JSON object.", param=f"line {number}")
    if line.get("type") == "error":
        raise InvalidInput(
            f"Line {number}: the export itself failed there: {line.get('error')}", param=f"line {number}"
        )
    if line.get("type") not in V2_LINE_TYPES:
        raise InvalidInput(
            f"Line {number} has type '{line.get('type')}'; a v2 export has {', '.join(V2_LINE_TYPES)} "
            "(export with --format v2).",
            param=f"line {number}",
        )
    if not isinstance(line.get("source_id"), str) or not isinstance(line.get("body"), dict):
        raise InvalidInput(f"Line {number} has no source_id or body.", param=f"line {number}")
    return line


def v2_export_import(
    *, client: FoundryClient, lines: Iterable[str], done: dict[str, Imported], on_progress: ProgressCallback
) -> Counter[str]:
    """Send each line of a v2 export to ``client``'s project; returns what was created (and skipped).

    Raises InvalidInput for a line that is not part of a v2 export (nothing after it is sent), FoundryError when
    the target refuses or fails after retries; either way ``done`` holds what arrived, for the next attempt.
    """
    counts: Counter[str] = Counter()
    position: dict[str, int] = {}  # per conversation, the index of the next item in the file
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        line = _parse(number, text)
        source, body = line["source_id"], line["body"]
        if line["type"] == "agent.version":
            if source in done:
                counts["agent versions skipped"] += 1
                continue
            version = client.agent_version_create_v2(str(line.get("name") or ""), body)
            done[source] = Imported(target_id=str(version.get("id") or ""))
            on_progress(source, done[source])
            counts["agent versions"] += 1
            continue
        items = list(body.get("items") or [])
        start = position.get(source, 0)
        position[source] = start + len(items)
        if line["type"] == "conversation":
            if source in done:
                counts["conversations skipped"] += 1
            else:
                conversation = client.conversation_create({**body, "items": items})
                done[source] = Imported(target_id=str(conversation["id"]), items=len(items))
                on_progress(source, done[source])
                counts["conversations"] += 1
                counts["items"] += len(items)
                continue
        elif source not in done:
            raise InvalidInput(
                f"Line {number}: items of '{source}' come before its conversation.", param=f"line {number}"
            )
        imported = done[source]
        remaining = items[max(0, imported.items - start) :]
        if remaining:
            client.conversation_items_create(imported.target_id, remaining)
            imported.items = start + len(items)
            on_progress(source, imported)
            counts["items"] += len(remaining)
    return counts
