"""Reads about runs for the console: the "Needs action" inbox, keyset-paginated (no OFFSET, no COUNT)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from agents_admin.models import Run, RunStatus

NEEDS_ACTION_PER_PAGE = 25


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
