"""Review queues: managers define them; reviewers work through them ("My queue", one item at a time, keyboard
first); everyone who reviews sees the results and the CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from agents_admin.errors import ServiceError
from agents_admin.forms.review_queues import ReviewForm, ReviewQueueForm, SkipForm
from agents_admin.forms.threads import ThreadFilterForm
from agents_admin.models import ReviewItem, ReviewQueue, ThreadFlag
from agents_admin.selectors import review_queues as sel
from agents_admin.selectors.review import message_comments_attach
from agents_admin.selectors.threads import ThreadFilters, message_page
from agents_admin.services import review_queues as svc
from agents_admin.services.audit import thread_view_record
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page

ITEM_MESSAGES = 100


@require_GET
@capability_required("review_conversations")
def my_queue(request: HtmxHttpRequest) -> HttpResponse:
    """A reviewer's home: each of their queues with what waits for them, what they did, and the queue's progress."""
    context = {"rows": sel.my_queues(request.user)}
    return render_page(request, "agents_admin/review_my_queue.html", context, partial="queues")


@require_GET
@capability_required("manage_review_queues")
def queue_list(request: HtmxHttpRequest) -> HttpResponse:
    return render_page(request, "agents_admin/review_queue_list.html", {"queues": sel.queue_list()}, partial="list")


def _queue_form_page(request: HtmxHttpRequest, queue: ReviewQueue | None) -> HttpResponse:
    if request.method == "POST":
        filter_form = ThreadFilterForm(data=request.POST)
        form = ReviewQueueForm(
            data=request.POST, queue=queue, filters=filter_form.filters().to_params() if filter_form.is_valid() else {}
        )
        if filter_form.is_valid() and form.is_valid():
            try:
                data = form.settings
                if queue is None:
                    queue = svc.queue_create(data=data, actor=request.user)
                    messages.success(request, f"Queue “{queue.name}” created.")
                else:
                    queue = svc.queue_update(queue=queue, data=data, actor=request.user)
                    messages.success(request, f"Queue “{queue.name}” saved.")
            except ServiceError as error:
                form.add_service_error(error)
            else:
                return redirect("agents_admin:review_queue_results", queue_id=queue.pk)
    elif queue is not None:
        filter_form = ThreadFilterForm(data={k: v for k, v in (queue.filters or {}).items() if k != "q"} or None)
        form = ReviewQueueForm(initial=ReviewQueueForm.initial_for(queue, sel.queue_reviewer_ids(queue)), queue=queue)
    else:
        filter_form = ThreadFilterForm()
        form = ReviewQueueForm(initial=ReviewQueueForm.NEW_INITIAL)
    context = {
        "form": form,
        "filter_form": filter_form,
        "queue": queue,
        "standard_flags": ThreadFlag.STANDARD,
        "filter_fields": [f for f in filter_form.visible_fields() if f.name in ThreadFilters.PARAMS],
    }
    return render_page(request, "agents_admin/review_queue_form.html", context, partial="form")


@require_http_methods(["GET", "POST"])
@capability_required("manage_review_queues")
def queue_create(request: HtmxHttpRequest) -> HttpResponse:
    return _queue_form_page(request, None)


@require_http_methods(["GET", "POST"])
@capability_required("manage_review_queues")
def queue_edit(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    return _queue_form_page(request, sel.queue_get(queue_id))


@require_GET
@capability_required("review_conversations")
def queue_results(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = sel.queue_get(queue_id)
    page = sel.queue_reviews(queue, cursor=request.GET.get("cursor", ""))
    rows = [(review, sel.review_answers(queue.rubric, review)) for review in page.reviews]
    context = {
        "queue": queue,
        "page": page,
        "rows": rows,
        "agreement": sel.queue_agreement(queue),
        "filters": ThreadFilters.from_params(queue.filters or {})[0],
        "is_reviewer": sel.is_reviewer(queue, request.user),
    }
    return render_page(request, "agents_admin/review_queue_results.html", context, partial="results")


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@capability_required("review_conversations")
def queue_results_csv(request: HtmxHttpRequest, queue_id: int) -> StreamingHttpResponse:
    """Every review of the queue, one row each: thread, reviewer, time, skipped and why, then one column per rubric
    field. Streamed a chunk of reviews at a time."""
    queue = sel.queue_get(queue_id)
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(
            ["thread_id", "reviewer", "reviewed_at", "skipped", "skip_reason", *(f["key"] for f in queue.rubric)]
        )
        for review in sel.queue_reviews_all(queue):
            answers = [answer for _, answer in sel.review_answers(queue.rubric, review)]
            yield writer.writerow(
                [
                    review.thread_id,
                    review.reviewer_name or "",
                    review.created_at.isoformat(),
                    "yes" if review.skipped else "no",
                    review.skip_reason,
                    *answers,
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="review-queue-{queue.pk}.csv"'
    return response


@require_GET
@capability_required("review_conversations")
def item_next(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    """Claim the reviewer's next item and open it; back to My queue when nothing is left."""
    queue = sel.queue_get(queue_id)
    try:
        item = svc.item_next(queue=queue, user=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("agents_admin:review_queue_results", queue_id=queue.pk)
    if item is None:
        messages.info(request, f"Nothing left for you in “{queue.name}”. Well done.")
        return redirect("agents_admin:my_queue")
    return redirect("agents_admin:review_item", queue_id=queue.pk, item_id=item.pk)


@require_http_methods(["GET", "POST"])
@capability_required("review_conversations")
def review_item(request: HtmxHttpRequest, queue_id: int, item_id: int) -> HttpResponse:
    """The thread with the rubric beside it. POST ``action=submit`` (the answers) or ``action=skip`` (a reason);
    either goes on to the next item."""
    queue = sel.queue_get(queue_id)
    if not sel.is_reviewer(queue, request.user):
        # Its results stay readable; the items are for the queue's reviewers.
        messages.error(request, "You are not a reviewer of this queue.")
        return redirect("agents_admin:review_queue_results", queue_id=queue.pk)
    item = sel.item_get(queue, item_id)
    form = ReviewForm(rubric=queue.rubric)
    skip_form = SkipForm()
    status = 200
    if request.method == "POST":
        skipping = request.POST.get("action") == "skip"
        try:
            if skipping:
                skip_form = SkipForm(data=request.POST)
                if skip_form.is_valid():
                    svc.review_skip(item=item, reviewer=request.user, reason=skip_form.cleaned_data["skip_reason"])
                    return redirect("agents_admin:review_next", queue_id=queue.pk)
            else:
                form = ReviewForm(data=request.POST, rubric=queue.rubric)
                if form.is_valid():
                    svc.review_submit(item=item, reviewer=request.user, scores=form.scores())
                    messages.success(request, "Review saved.")
                    return redirect("agents_admin:review_next", queue_id=queue.pk)
        except ServiceError as error:
            if skipping:
                skip_form.add_error("skip_reason" if error.param == "skip_reason" else None, error.message)
            else:
                form.add_service_error(error)
        status = 400
    else:
        thread_view_record(thread=item.thread, actor=request.user, request=request)
    context = _item_context(queue, item, form, skip_form)
    return render_page(request, "agents_admin/review_item.html", context, partial="rubric", status=status)


def _item_context(queue: ReviewQueue, item: ReviewItem, form: ReviewForm, skip_form: SkipForm) -> dict[str, Any]:
    reviews = sel.item_reviews(item)
    page = message_page(item.thread_id, per_page=ITEM_MESSAGES)
    message_comments_attach(page.messages)  # the comments beside each message, in one query
    return {
        "queue": queue,
        "item": item,
        "thread": item.thread,
        "page": page,
        "form": form,
        "skip_form": skip_form,
        "reviews": [(review, sel.review_answers(queue.rubric, review)) for review in reviews],
        "thread_url": reverse("agents_admin:thread_detail", args=[item.thread_id]),
    }
