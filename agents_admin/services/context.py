"""Building a run's model input: instructions, the thread's messages (truncated) and this run's tool calls."""

from __future__ import annotations

from collections.abc import Iterator

from agents_admin.models import Message, Run, RunStep
from agents_admin.providers.base import ChatMessage, ToolCall
from agents_admin.providers.offline import count_tokens

# The context window assumed when the provider does not say; "auto" truncation fits the prompt into it.
DEFAULT_CONTEXT_TOKENS = 128_000
# Messages are read newest first in pages of this size, so a 100,000-message thread is never loaded whole.
_PAGE = 500
_PER_MESSAGE_OVERHEAD = 4


def run_model_input(run: Run, *, context_tokens: int = DEFAULT_CONTEXT_TOKENS) -> tuple[list[ChatMessage], bool]:
    """The messages to send for ``run`` and whether any thread messages were left out to fit."""
    system = [ChatMessage(role="system", content=run.instructions)] if run.instructions else []
    tool_turns = _tool_turns(run)
    budget = run.max_prompt_tokens or context_tokens
    if run.max_prompt_tokens and context_tokens:
        budget = min(budget, context_tokens)
    budget -= sum(count_tokens(m.content) + _PER_MESSAGE_OVERHEAD for m in system + tool_turns)
    strategy = run.truncation_strategy or {"type": "auto"}
    limit = strategy.get("last_messages") if strategy.get("type") == "last_messages" else None
    history: list[ChatMessage] = []
    truncated = False
    for message in _newest_first(run):
        if limit is not None and len(history) >= limit:
            truncated = True
            break
        cost = count_tokens(message.text) + _PER_MESSAGE_OVERHEAD
        if cost > budget and history:
            truncated = True
            break
        budget -= cost
        history.append(ChatMessage(role=message.role, content=message.text))
    history.reverse()
    return system + history + tool_turns, truncated


def _newest_first(run: Run) -> Iterator[Message]:
    """The thread's messages up to this run's own, newest first, a page at a time."""
    queryset = (
        Message.objects.filter(thread_id=run.thread_id)
        .exclude(run_id=run.id)
        .only("seq", "role", "text")
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
    """This run's answered tool calls, as assistant tool-call turns followed by their outputs."""
    turns: list[ChatMessage] = []
    steps = RunStep.objects.filter(run=run, type=RunStep.Type.TOOL_CALLS, status=RunStep.Status.COMPLETED)
    for step in steps.order_by("created_at", "id"):
        calls = step.step_details.get("tool_calls", [])
        turns.append(
            ChatMessage(
                role="assistant",
                tool_calls=tuple(
                    ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"]["arguments"])
                    for c in calls
                ),
            )
        )
        turns.extend(
            ChatMessage(role="tool", content=str(c["function"].get("output") or ""), tool_call_id=c["id"])
            for c in calls
        )
    return turns
