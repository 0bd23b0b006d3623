"""Reads of the v2 protocol's conversations, which are threads: a project's conversations with an agent, and a
conversation's items (its messages, with its responses' function calls and function outputs placed among them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from agents_admin.models import Agent, Message, Project, Response, Run, RunStep, Thread


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


# --- items ---------------------------------------------------------------------------------------------------------

# At most this many responses are read to fill one page of items: a page is at most 100 items, and a response
# between two messages brings at least one item when it made calls or answered some.
MAX_RESPONSES_PER_PAGE = 1000


@dataclass(frozen=True)
class ConversationItem:
    """One item of a conversation: a message, or a response's ``function_call`` (``call``: its run's tool call)
    or ``function_call_output`` (``output``: the input item as received).

    ``key`` orders them: a message is ``(seq, 0)``; a response's items are ``(seq, 1, created_at, response id,
    phase, index)``, after message ``input_seq`` for the outputs it was given (phase 0) and after message
    ``after_seq`` for the calls its run made (phase 1), so several responses between the same two messages keep
    the order they were created in.
    """

    key: tuple[Any, ...]
    id: str
    message: Message | None = None
    response: Response | None = None
    call: dict[str, Any] | None = None
    output: dict[str, Any] | None = None


@dataclass(frozen=True)
class ItemsPage:
    items: list[ConversationItem]
    has_more: bool


def _message_item(message: Message) -> ConversationItem:
    return ConversationItem(key=(message.seq, 0), id=message.id, message=message)


def _response_items(responses: list[Response]) -> list[ConversationItem]:
    """The function outputs each response was given and the function calls its run made, with their keys."""
    calls_by_run: dict[str, list[dict[str, Any]]] = {}
    steps = RunStep.objects.filter(run_id__in=[r.run_id for r in responses], type=RunStep.Type.TOOL_CALLS)
    for step in steps.order_by("created_at", "id"):
        calls = [c for c in step.tool_calls if c.get("type", "function") == "function"]
        calls_by_run.setdefault(step.run_id, []).extend(calls)
    items = []
    for response in responses:
        at = (response.created_at, response.id)
        outputs = [i for i in response.input_items if isinstance(i, dict) and i.get("type") == "function_call_output"]
        for index, output in enumerate(outputs):
            key = (response.input_seq, 1, *at, 0, index)
            items.append(ConversationItem(key=key, id=str(output.get("id")), response=response, output=output))
        for index, call in enumerate(calls_by_run.get(response.run_id, [])):
            key = (response.after_seq, 1, *at, 1, index)
            items.append(ConversationItem(key=key, id=f"fc_{call.get('id', '')}", response=response, call=call))
    return items


def _placed_responses(thread: Thread) -> QuerySet[Response]:
    # Responses from before items were placed have input_seq set by migration 0022; none is left NULL.
    return Response.objects.filter(thread=thread, input_seq__isnull=False)


def conversation_item(*, thread: Thread, item_id: str, messages: QuerySet[Message]) -> ConversationItem | None:
    """The item with this id: a message (read from ``messages``, the caller's select_related), a function call
    (``fc_`` + its call id) or a function output (the id given to the input item)."""
    message = messages.filter(thread=thread, pk=item_id).first()
    if message is not None:
        return _message_item(message)
    if item_id.startswith("fc_"):
        # A call id is unique to its step; the text match narrows the thread's tool steps to that one.
        steps = RunStep.objects.filter(
            thread=thread, type=RunStep.Type.TOOL_CALLS, step_details__icontains=item_id[3:]
        ).values_list("run_id", flat=True)
        candidates = _placed_responses(thread).filter(run_id__in=list(steps))
    else:
        candidates = _placed_responses(thread).filter(input_items__icontains=f'"{item_id}"')
    for item in _response_items(list(candidates[:20])):
        if item.id == item_id:
            return item
    return None


def conversation_items_page(
    *,
    thread: Thread,
    messages: QuerySet[Message],
    limit: int,
    descending: bool,
    after: ConversationItem | None = None,
    before: ConversationItem | None = None,
) -> ItemsPage:
    """One page of the conversation's items in key order, as keyset pages read: ``after`` alone reads on from
    its item, ``before`` alone the items nearest before it, both the items between them.

    Messages are read by seq (one indexed range, ``limit + 1`` rows); the responses placed in the range those
    messages span are read beside them and merged, so a page costs three queries however long the thread.
    """
    # In ascending key terms: the page lies strictly between ``low`` and ``high``.
    low, high = (after, before) if not descending else (before, after)
    reverse = bool(before) and not after
    upward = descending == reverse  # read from ``low`` up, else from ``high`` down
    rows = messages.filter(thread=thread)
    if low is not None:
        rows = rows.filter(seq__gt=low.key[0])
    if high is not None:
        rows = rows.filter(seq__lt=high.key[0]) if high.message else rows.filter(seq__lte=high.key[0])
    fetched = [_message_item(m) for m in rows.order_by("seq" if upward else "-seq")[: limit + 1]]
    # The responses that can place an item inside the window the messages leave: past the last message read
    # nothing is needed when ``limit + 1`` messages came back.
    edge = fetched[limit].key[0] if len(fetched) > limit else None
    responses = _placed_responses(thread)
    lowest = low.key[0] if low is not None else None
    highest = high.key[0] if high is not None else None
    if edge is not None and upward:
        highest = edge if highest is None else min(highest, edge)
    elif edge is not None:
        lowest = edge if lowest is None else max(lowest, edge)
    if lowest is not None:
        responses = responses.filter(after_seq__gte=lowest)
    if highest is not None:
        responses = responses.filter(input_seq__lte=highest)
    order = ("input_seq", "created_at", "id") if upward else ("-input_seq", "-created_at", "-id")
    placed = _response_items(list(responses.order_by(*order)[:MAX_RESPONSES_PER_PAGE]))
    inside = [item for item in placed if (low is None or item.key > low.key) and (high is None or item.key < high.key)]
    merged = sorted(fetched + inside, key=lambda item: item.key, reverse=not upward)[: limit + 1]
    has_more = len(merged) > limit
    merged = merged[:limit]
    if reverse:
        merged.reverse()
    return ItemsPage(items=merged, has_more=has_more)
