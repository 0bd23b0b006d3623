"""Reads about runs: one run, the live run panel, the "Needs action" inbox (keyset-paginated)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Q
from django.http import Http404

from agents_admin.lib.keyset import after, cursor_decode, cursor_encode
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    Message,
    Run,
    RunStatus,
    Thread,
)
from agents_admin.selectors.threads import MESSAGE_FIELDS, MESSAGES_PER_PAGE
from agents_admin.selectors.usage import run_cost

NEEDS_ACTION_PER_PAGE = 25
# The statuses during which the run panel keeps polling; requires_action waits for a person, so it stops.
POLLING_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.CANCELLING)


def run_get(thread: Thread, run_id: str) -> Run:
    try:
        runs = Run.objects.select_related("agent", "connection")
        # The names as the run panel reads them (selectors.threads.thread_runs gives them the same way).
        runs = runs.annotate(agent_name=F("agent__name"), connection_name=F("connection__name"))
        return runs.get(pk=run_id, thread=thread)
    except Run.DoesNotExist:
        raise Http404(f"No run {run_id} on thread {thread.id}.") from None


@dataclass
class RunPanel:
    run: Run  # the template reads its steps (``run.steps.all``), prefetched by the thread page's message_page
    messages: list[Message]
    polling: bool
    timings: dict[str, float | None]
    # False when the thread moved on after the run: its messages then sit in the history instead.
    show_messages: bool = True
    # What the run cost at its model's price on the day it was created (amount, currency); None if unpriced.
    cost: tuple[Decimal, str] | None = None


def run_panel(run: Run) -> RunPanel:
    """What the live run panel shows: status, steps with tool calls, the messages written so far, and at the end
    the error, usage and timings."""
    end = run.completed_at or run.failed_at or run.cancelled_at
    timings = {
        "queued": (run.started_at - run.created_at).total_seconds() if run.started_at else None,
        "running": (end - run.started_at).total_seconds() if end and run.started_at else None,
        "total": (end - run.created_at).total_seconds() if end else None,
    }
    return RunPanel(
        run=run,
        messages=run_messages(run.id),
        polling=run.status in POLLING_RUN_STATUSES,
        timings=timings,
        cost=run_cost(run) if run.is_terminal else None,
    )


def run_messages(run_id: str, *, limit: int = MESSAGES_PER_PAGE) -> list[Message]:
    """The messages a run wrote, in order (what the live run panel shows); one query on the run index."""
    return list(Message.objects.filter(run_id=run_id).only(*MESSAGE_FIELDS).order_by("seq")[:limit])


def run_messages_at_tail(thread: Thread, panel: RunPanel) -> bool:
    """Whether the run's messages are the thread's last ones (nothing was added after), so the run panel,
    placed below the history, can show them in order.

    No query: message_count is also the last seq handed out (message_create reserves it in the insert's
    transaction, retention's trim renumbers and sets it), so a message after the run's last one exists exactly
    when that seq is below the count. A thread row read before the run's newest message is fine too: that
    message's seq is then above the count, and the run is at the tail.
    """
    return not panel.messages or panel.messages[-1].seq >= thread.message_count


def runs_any_active(runs: list[Run]) -> bool:
    return any(run.status in ACTIVE_RUN_STATUSES for run in runs)


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    next_cursor: str | None


def runs_needing_action(*, before: str | None = None, per_page: int | None = None) -> RunPage:
    """Runs waiting for tool outputs across all threads, newest first; ``before`` is the last run id seen.

    Two queries at most (the cursor's row, then the page), served by the partial index run_needs_action.
    """
    per_page = per_page or NEEDS_ACTION_PER_PAGE
    queryset = (
        Run.objects.filter(status=RunStatus.REQUIRES_ACTION)
        .select_related("agent", "thread__project")
        .order_by("-created_at", "-id")
    )
    if before:
        anchor = Run.objects.filter(pk=before).values_list("created_at", flat=True).first()
        if anchor is not None:
            queryset = queryset.filter(Q(created_at__lt=anchor) | Q(created_at=anchor, id__lt=before))
    runs = list(queryset[: per_page + 1])
    more = len(runs) > per_page
    runs = runs[:per_page]
    return RunPage(runs=runs, next_cursor=runs[-1].id if more and runs else None)


NEEDS_ACTION_COUNT_CAP = 99


def runs_needing_action_count(*, cap: int = NEEDS_ACTION_COUNT_CAP) -> int:
    """How many runs wait for tool outputs, counted up to ``cap + 1`` (shown as "99+") on the partial index."""
    return Run.objects.filter(status=RunStatus.REQUIRES_ACTION).values("pk")[: cap + 1].count()


RUNS_PER_PAGE = 50


@dataclass(frozen=True)
class RunListPage:
    runs: list[Run]
    next_cursor: str | None


def runs_page(condition: Q, *, cursor: str = "", per_page: int = RUNS_PER_PAGE) -> RunListPage:
    """Runs matching ``condition`` (a usage bucket's, see selectors.usage.runs_filter), newest first, a keyset
    page at a time along the created_at index."""
    queryset = (
        Run.objects.filter(condition)
        .select_related("agent", "thread__project")
        .only(
            "id", "thread_id", "agent_id", "agent_ref", "status", "model", "principal", "created_at", "completed_at",
            "prompt_tokens", "completion_tokens", "last_error", "agent__name", "thread__project__name",
        )
        .order_by("-created_at", "-id")
    )  # fmt: skip
    position = cursor_decode(cursor)
    if position is not None:
        queryset = queryset.filter(after("created_at", position))
    runs = list(queryset[: per_page + 1])
    more = len(runs) > per_page
    runs = runs[:per_page]
    return RunListPage(runs=runs, next_cursor=cursor_encode(runs[-1].created_at, runs[-1].id) if more else None)
