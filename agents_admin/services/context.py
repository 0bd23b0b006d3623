"""Building a run's model input: instructions, the thread's messages (truncated) and this run's tool calls."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Q

from agents_admin.models import File, Message, Response, Run, RunStep
from agents_admin.providers.base import ChatMessage, ImageInput
from agents_admin.providers.offline import count_tokens
from agents_admin.services.tools import call_output, call_turn

# The context window assumed when the provider does not say; "auto" truncation fits the prompt into it.
DEFAULT_CONTEXT_TOKENS = 128_000
# Messages are read newest first in pages of this size, so a 100,000-message thread is never loaded whole.
_PAGE = 500
_PER_MESSAGE_OVERHEAD = 4
# What an image is counted as against the prompt budget (a high-detail 512 px tile set, as vision models bill).
IMAGE_TOKENS = 765
# The largest uploaded image sent inline to the model.
IMAGE_MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class ModelInput:
    """What a model call is sent, and what truncation left out of the thread to fit."""

    messages: list[ChatMessage]
    # Thread messages left out, and why: "last_messages" (the run's truncation strategy) or "max_prompt_tokens" /
    # "context_window" (the token budget "auto" truncation fits into). Empty reason when nothing was dropped.
    dropped: int = 0
    reason: str = ""
    strategy: str = "auto"
    budget_tokens: int = 0
    kept: int = 0

    @property
    def truncated(self) -> bool:
        return self.dropped > 0


def run_model_input(run: Run, *, context_tokens: int = DEFAULT_CONTEXT_TOKENS) -> tuple[list[ChatMessage], bool]:
    """The messages to send for ``run`` and whether any thread messages were left out to fit."""
    built = model_input(run, context_tokens=context_tokens)
    return built.messages, built.truncated


def model_input(run: Run, *, context_tokens: int = DEFAULT_CONTEXT_TOKENS, tool_turns: bool = True) -> ModelInput:
    """The messages to send for ``run``, with how many thread messages truncation dropped and why. ``tool_turns``
    False: the caller knows the run has no answered tool calls, so they are not read."""
    system = [ChatMessage(role="system", content=run.instructions)] if run.instructions else []
    tool_turns = _tool_turns(run) if tool_turns else []
    budget = run.max_prompt_tokens or context_tokens
    if run.max_prompt_tokens and context_tokens:
        budget = min(budget, context_tokens)
    token_reason = (
        "max_prompt_tokens" if run.max_prompt_tokens and run.max_prompt_tokens <= context_tokens else "context_window"
    )
    full_budget = budget
    budget -= sum(count_tokens(m.content) + _PER_MESSAGE_OVERHEAD for m in system + tool_turns)
    strategy = run.truncation_strategy or {"type": "auto"}
    limit = strategy.get("last_messages") if strategy.get("type") == "last_messages" else None
    history: list[ChatMessage] = []
    reason = ""
    oldest_kept: int | None = None
    for message in _newest_first(run):
        if limit is not None and len(history) >= limit:
            reason = "last_messages"
            break
        images = message_images(message)
        cost = count_tokens(message.text) + _PER_MESSAGE_OVERHEAD + IMAGE_TOKENS * len(images)
        if cost > budget and history:
            reason = token_reason
            break
        budget -= cost
        history.append(ChatMessage(role=message.role, content=message.text, images=images))
        oldest_kept = message.seq
    history.reverse()
    dropped = _older_than(run, oldest_kept) if reason else 0
    return ModelInput(
        messages=system + history + tool_turns,
        dropped=dropped,
        reason=reason if dropped else "",
        strategy=str(strategy.get("type") or "auto"),
        budget_tokens=full_budget,
        kept=len(history),
    )


def _older_than(run: Run, seq: int | None) -> int:
    """How many of the thread's messages (not this run's) come before ``seq``: one index range count, paid only
    when truncation dropped something."""
    older = Message.objects.filter(thread_id=run.thread_id).exclude(run_id=run.id)
    if seq is not None:
        older = older.filter(seq__lt=seq)
    return older.count()


def _newest_first(run: Run) -> Iterator[Message]:
    """The thread's messages up to this run's own, newest first, a page at a time."""
    queryset = (
        Message.objects.filter(thread_id=run.thread_id)
        .exclude(run_id=run.id)
        .only("seq", "role", "text", "content")
        .order_by("-seq")
    )
    before: int | None = None
    while True:
        page_qs = queryset if before is None else queryset.filter(seq__lt=before)
        page = list(page_qs[:_PAGE])
        yield from page
        if len(page) < _PAGE:
            return
        before = page[-1].seq


def _tool_turns(run: Run) -> list[ChatMessage]:
    """This run's answered tool calls, as assistant tool-call turns followed by their outputs; for a v2 response
    that answers the function calls of an earlier one, that run's calls first."""
    turns: list[ChatMessage] = []
    answered = Response.objects.filter(run_id=run.id, answers_run__isnull=False).values_list("answers_run", flat=True)
    steps = RunStep.objects.filter(
        Q(run=run) | Q(run__in=answered), type=RunStep.Type.TOOL_CALLS, status=RunStep.Status.COMPLETED
    )
    for step in steps.order_by("created_at", "id"):
        calls = step.step_details.get("tool_calls", [])
        turns.append(ChatMessage(role="assistant", tool_calls=tuple(call_turn(c) for c in calls)))
        turns.extend(ChatMessage(role="tool", content=call_output(c), tool_call_id=c["id"]) for c in calls)
    return turns


def message_images(message: Message) -> tuple[ImageInput, ...]:
    """The images of a message's ``image_url`` and ``image_file`` parts, as the model is shown them: URLs as
    they are, uploaded files inline as ``data:`` URLs. A file deleted since, or too large, is left out."""
    images: list[ImageInput] = []
    for part in message.content or []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url":
            body = part.get("image_url") or {}
            images.append(ImageInput(url=str(body.get("url")), detail=body.get("detail")))
        elif kind == "image_file":
            body = part.get("image_file") or {}
            url = _file_data_url(str(body.get("file_id")))
            if url:
                images.append(ImageInput(url=url, detail=body.get("detail")))
    return tuple(images)


def _file_data_url(file_id: str) -> str | None:
    record = File.objects.filter(pk=file_id).only("filename", "bytes", "content").first()
    if record is None or record.bytes > IMAGE_MAX_BYTES:
        return None
    mime = mimetypes.guess_type(record.filename)[0] or "application/octet-stream"
    with record.content.open("rb") as handle:
        data = handle.read(IMAGE_MAX_BYTES + 1)
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
