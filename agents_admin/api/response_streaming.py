"""Streaming a response as the v2 protocol's server-sent events (``response.*`` with a ``sequence_number``).

The events are a function of what the store holds (the run, its function-call steps, its assistant message as
the worker writes it), computed so that what is known at one moment is always a prefix of what is known later:
text deltas are whole words, and the word still being written waits for the next one. So event N is the same
whoever asks and whenever, and a stream resumes after any ``sequence_number`` (``starting_after``) by computing
the events again and skipping the ones already seen. Background responses stream the same way. Streams are
served asynchronously and woken by the worker's notices, as the classic ones are (streaming.py), and the text of
the message being written comes from the worker's text notices as the model produces it, ahead of the store.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from django.http import StreamingHttpResponse

from agents_admin.api.streaming import StreamSlot, sse_response, watch_run
from agents_admin.api.v2_shapes import (
    FINAL_RESPONSE_STATUSES,
    function_call_items,
    output_message_json,
    response_json,
    response_messages,
)
from agents_admin.lib import run_events
from agents_admin.models import Message, Response, Run

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\s*\S+")
_FINAL_EVENT = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
    # The protocol has no "cancelled" event: the stream ends as failed, with the response's status "cancelled".
    "cancelled": "response.failed",
}


def text_chunks(text: str, *, final: bool) -> list[str]:
    """The deltas of ``text``: a word each, with the whitespace before it. Until the text is final the last
    word may still grow, so it is held back; the final text's last chunk also carries any trailing whitespace."""
    chunks = _WORD.findall(text)
    if not final:
        return chunks[:-1]
    rest = text[sum(len(c) for c in chunks) :]
    if rest:
        if chunks:
            chunks[-1] += rest
        else:
            chunks = [rest]
    return chunks


def response_events(response: Response, writing: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Every event of ``response`` known now, in order (without sequence numbers), and whether that is all. A
    message still being written comes last; ``writing``, if given, gets its id, output index and text."""
    run = Run.objects.get(pk=response.run_id)
    calls = function_call_items(run)
    messages = response_messages(run)
    snapshot = response_json(response, run, calls=calls, messages=messages)
    status = snapshot["status"]
    events: list[dict[str, Any]] = []

    def early(state: str) -> dict[str, Any]:
        return {**snapshot, "status": state, "output": [], "usage": None, "error": None, "completed_at": None}

    events.append({"type": "response.created", "response": early("queued" if response.background else "in_progress")})
    if response.background:
        events.append({"type": "response.queued", "response": early("queued")})
    # Not taken by a worker yet: wait, unless it was cancelled before one took it (then no in_progress).
    if run.started_at is None:
        if status not in FINAL_RESPONSE_STATUSES:
            return events, False
    else:
        events.append({"type": "response.in_progress", "response": early("in_progress")})
    index = 0
    for item in calls:
        events += [
            {"type": "response.output_item.added", "output_index": index, "item": {**item, "arguments": ""}},
            {
                "type": "response.function_call_arguments.delta",
                "output_index": index,
                "item_id": item["id"],
                "delta": item["arguments"],
            },
            {
                "type": "response.function_call_arguments.done",
                "output_index": index,
                "item_id": item["id"],
                "name": item["name"],
                "arguments": item["arguments"],
            },
            {"type": "response.output_item.done", "output_index": index, "item": item},
        ]
        index += 1
    for message in messages:
        if not _message_events(events, message, index):
            if writing is not None:
                writing.update(id=message.id, output_index=index, text=message.text)
            return events, False
        index += 1
    if status in FINAL_RESPONSE_STATUSES:
        events.append({"type": _FINAL_EVENT[status], "response": snapshot})
        return events, True
    return events, False


def _message_events(events: list[dict[str, Any]], message: Message, index: int) -> bool:
    """Append a message's events; False while it is still being written (its later events are not known)."""
    item_id = message.id
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    start = {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}
    events.append({"type": "response.output_item.added", "output_index": index, "item": start})
    events.append(
        {"type": "response.content_part.added", **where, "part": {"type": "output_text", "text": "", "annotations": []}}
    )
    final = message.status != Message.Status.IN_PROGRESS
    for chunk in text_chunks(message.text, final=final):
        events.append({"type": "response.output_text.delta", **where, "delta": chunk, "logprobs": []})
    if not final:
        return False
    events.append({"type": "response.output_text.done", **where, "text": message.text, "logprobs": []})
    part = {"type": "output_text", "text": message.text, "annotations": []}
    events.append({"type": "response.content_part.done", **where, "part": part})
    events.append({"type": "response.output_item.done", "output_index": index, "item": output_message_json(message)})
    return True


def sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def response_stream(
    response: Response, *, starting_after: int = -1, slot: StreamSlot | None = None
) -> StreamingHttpResponse:
    return sse_response(_events(response, starting_after, slot))


def _text_delta(writing: dict[str, Any], chunk: str, number: int) -> dict[str, Any]:
    where = {"item_id": writing["id"], "output_index": writing["output_index"], "content_index": 0}
    return {"type": "response.output_text.delta", **where, "delta": chunk, "logprobs": [], "sequence_number": number}


async def _events(response: Response, starting_after: int, slot: StreamSlot | None) -> AsyncIterator[bytes]:
    sent = starting_after + 1
    # The message being written (as of the last look, and the worker's text notices since): its text, and how many
    # of its deltas the client has. Text from a notice is the text the store will have at the next checkpoint, so
    # its deltas are the ones a later look computes: the events stay the same whoever asks and whenever.
    writing: dict[str, Any] = {}

    def look() -> tuple[list[bytes], bool]:
        nonlocal sent, writing
        found: dict[str, Any] = {}
        events, done = response_events(response, found)
        chunks = [sse({**events[number], "sequence_number": number}) for number in range(sent, len(events))]
        # Events past these were the deltas of the message being written, sent from its notices.
        ahead = max(sent - len(events), 0)
        sent = max(sent, len(events))
        if found:
            if writing.get("id") == found["id"] and writing["text"].startswith(found["text"]):
                found["text"] = writing["text"]
            deltas = sum(1 for e in events if e["type"] == "response.output_text.delta" and e["item_id"] == found["id"])
            found["deltas"] = deltas + ahead
        writing = found
        return chunks, done

    def text(notices: list[run_events.TextNotice]) -> list[bytes]:
        nonlocal sent
        chunks: list[bytes] = []
        for notice in notices:
            if notice.message_id != writing.get("id"):
                continue
            known = writing["text"]
            shown = len(known) - notice.offset
            if shown < 0 or shown >= len(notice.text) or not notice.text.startswith(known[notice.offset :]):
                continue
            writing["text"] = known + notice.text[shown:]
            for piece in text_chunks(writing["text"], final=False)[writing["deltas"] :]:
                chunks.append(sse(_text_delta(writing, piece, sent)))
                sent += 1
                writing["deltas"] += 1
        return chunks

    try:
        async for chunk in watch_run(response.run_id, slot, look, text):
            yield chunk
    except Exception:
        logger.exception("stream of response %s failed", response.id)
        yield sse(
            {"type": "error", "code": "server_error", "message": "The stream failed.", "param": None,
             "sequence_number": sent}
        )  # fmt: skip
