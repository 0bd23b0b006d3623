from __future__ import annotations

import re
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from agents_admin.errors import ServiceError
from agents_admin.forms.confirm import ConfirmForm
from agents_admin.forms.runs import RunStartForm, ToolOutputsForm
from agents_admin.forms.threads import MessageForm, ThreadCreateForm, ThreadListForm
from agents_admin.ids import small_int
from agents_admin.models import ACTIVE_RUN_STATUSES, Run, SavedView, Thread, ThreadFlag
from agents_admin.selectors import runs as run_selectors
from agents_admin.selectors import threads as thread_selectors
from agents_admin.selectors.agents import agents_for_thread
from agents_admin.selectors.retention import thread_hold_current, thread_tombstone, thread_trim_report
from agents_admin.selectors.review import message_comments_attach
from agents_admin.selectors.review_queues import reviews_shown
from agents_admin.selectors.runs import run_get, run_messages_at_tail
from agents_admin.selectors.search import MARKED_WORDS
from agents_admin.selectors.threads import (
    MESSAGES_PER_PAGE,
    MessagePage,
    message_page,
    thread_delete_effect,
    thread_get,
    thread_runs,
    transcript,
    transcript_runs,
)
from agents_admin.selectors.traces import run_trace
from agents_admin.services.audit import thread_view_record
from agents_admin.services.projects import project_default
from agents_admin.services.runs import message_send, run_cancel, run_create, run_submit_tool_outputs
from agents_admin.services.threads import thread_create, thread_delete
from agents_admin.views.access import ViewFunc, can, capability_required
from agents_admin.views.common import HtmxHttpRequest, confirmed, render_page, wants_partial
from agents_admin.views.review import review_context
from agents_admin.views.saved_views import saved_views_context

DETAIL = "agents_admin/thread_detail.html"


def gone_if_deleted(view: ViewFunc) -> ViewFunc:
    """A thread page whose thread was deleted answers 410 Gone naming when, how and by which purge report, for
    those who may read purge reports (``view_audit``); everyone else, and an id never seen, gets the plain 404."""

    @wraps(view)
    def wrapped(request: HtmxHttpRequest, thread_id: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, thread_id, *args, **kwargs)
        except Http404:
            tombstone = thread_tombstone(thread_id) if can(request.user, "view_audit") else None
            if tombstone is None:
                raise
            return render(request, "agents_admin/thread_gone.html", {"tombstone": tombstone}, status=410)

    return wrapped


@require_GET
@capability_required("view_conversations")
def thread_list(request: HtmxHttpRequest) -> HttpResponse:
    form = ThreadListForm(data=request.GET or None)
    filters = form.filters()
    page = thread_selectors.thread_list(filters, cursor=form.cursor_value, sort=form.sort_value)
    context = {
        "form": form,
        "page": page,
        "count": thread_selectors.thread_count(filters),
        "query": form.query_without_cursor(),
        "standard_flags": ThreadFlag.STANDARD,
        **saved_views_context(request, SavedView.Page.THREADS),
    }
    return render_page(request, "agents_admin/thread_list.html", context, partial="results")


@require_http_methods(["GET", "POST"])
@capability_required("operate_runs")
def thread_create_view(request: HtmxHttpRequest) -> HttpResponse:
    form = ThreadCreateForm(data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            thread = thread_create(project=project_default(), metadata=form.cleaned_data["metadata"])
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, "Thread created: write its first message.")
            return redirect("agents_admin:thread_detail", thread_id=thread.id)
    return render_page(request, "agents_admin/thread_form.html", {"form": form}, partial="form")


def _before(request: HtmxHttpRequest) -> int | None:
    """The page to show: ``?before=seq`` for earlier pages; ``?around=seq`` (search results) opens the page that
    holds that message near its middle."""
    before = small_int(request.GET.get("before", ""))
    if before is not None:
        return before
    around = small_int(request.GET.get("around", ""))
    return around + 25 if around is not None else None


def _mark_hit(request: HtmxHttpRequest, page: MessagePage) -> None:
    """A search hit opened (``?around=seq&hl=words``): that message is highlighted and the words marked in it."""
    around = small_int(request.GET.get("around", ""))
    words = re.findall(r"\w+", request.GET.get("hl", ""))[:MARKED_WORDS]
    for message in page.messages:
        if message.seq == around:
            # Display-only attributes the message template reads (class and marks), not model fields.
            message.hit, message.marks = True, words  # type: ignore[attr-defined]


def _later_before(request: HtmxHttpRequest, thread: Thread, page: MessagePage) -> int | None:
    """For a page opened back in the thread (``before``/``around``), the ``before`` of the page after it."""
    if _before(request) is None or not page.messages or page.messages[-1].seq >= thread.message_count:
        return None
    return page.messages[-1].seq + 1 + MESSAGES_PER_PAGE


def _composer_form(agents: Any, thread: Thread, bound: RunStartForm | None) -> RunStartForm:
    """The composer's agent choice: the same (already read) agents as "Start a run", its own element ids; the
    agent defaults to the one just posted, else the thread's last one."""
    chosen = bound.data.get("agent") if bound is not None else None
    return RunStartForm(agents=agents, initial={"agent": chosen or thread.last_agent_id}, auto_id="composer_%s")


def _detail(request: HtmxHttpRequest, thread: Thread, *, run: Run | None = None, **forms: Any) -> dict[str, Any]:
    """Everything the thread page shows; ``forms`` replaces a blank form with a bound one carrying errors."""
    runs = thread_runs(thread.id)
    latest = runs[0] if runs else None
    agents = agents_for_thread(thread)
    shown = run or latest
    panel = run_selectors.run_panel(shown) if shown else None
    # The latest run's messages live in the run panel (they change while it runs) as long as they are the
    # thread's last ones; once the conversation moved on they show in the history, in order.
    live = panel is not None and shown == latest and run_messages_at_tail(thread, panel)
    before = _before(request)
    page = message_page(
        thread.id,
        before=before,
        exclude_run_id=latest.id if live and latest else None,
        steps_also_for=shown,  # the panel's steps come with the page's, in one query
    )
    _mark_hit(request, page)
    if panel is not None:
        # An earlier run's replies show in the history when they are on this page, else in its panel.
        panel.show_messages = live if shown == latest else all(m.run_id != shown.id for m in page.messages)
    entries = transcript(
        page.messages, transcript_runs(thread.id, page, before=before), panel_run_id=shown and shown.id
    )
    # The comments beside each message shown, the history's and the panel's, in one query.
    message_comments_attach(page.messages + (panel.messages if panel and panel.show_messages else []))
    return {
        "thread": thread,
        "page": page,
        "later_before": _later_before(request, thread, page),
        "transcript": entries,
        # The panel sits after the message its run answered; a run off this page gets it below the history.
        "panel_placed": panel is not None and any(entry.run == shown for entry in entries),
        "panel": panel,
        "runs": runs,
        "message_form": forms.get("message_form") or MessageForm(),
        "run_form": forms.get("run_form") or RunStartForm(agents=agents, initial={"agent": thread.last_agent_id}),
        "run_active": bool(latest and latest.status in ACTIVE_RUN_STATUSES),
        # The agent defaults to the thread's last one, so "Send and run" keeps talking to the same agent.
        "composer_form": _composer_form(agents, thread, forms.get("run_form")),
        "tool_form": forms.get("tool_form") or (ToolOutputsForm(run=shown) if shown else None),
        "action_error": forms.get("action_error"),
        "hold": thread_hold_current(thread.id, timezone.now()),
        "trim_report": thread_trim_report(thread),
        # Only a thread that entered a review queue has reviews to read (review_state is kept on the thread).
        "reviews": reviews_shown(thread) if thread.review_state else [],
        **review_context(thread),
    }


@require_GET
@capability_required("view_conversations")
@gone_if_deleted
def thread_detail(request: HtmxHttpRequest, thread_id: str) -> HttpResponse:
    """The thread page; an htmx request gets one page of messages (``?before=seq`` for earlier ones)."""
    thread = thread_get(thread_id)
    if wants_partial(request):
        # Earlier pages lie before any run panel messages, so nothing needs leaving out here.
        before = _before(request)
        page = message_page(thread.id, before=before)
        entries = transcript(page.messages, transcript_runs(thread.id, page, before=before))
        message_comments_attach(page.messages)
        thread_view_record(thread=thread, actor=request.user, request=request, part="messages", before=before)
        return render_page(request, DETAIL, {"thread": thread, "page": page, "transcript": entries}, partial="messages")
    # Every response that carries message text is one record: this page, and each htmx page or poll after it.
    thread_view_record(thread=thread, actor=request.user, request=request)
    return render_page(request, DETAIL, _detail(request, thread), partial="messages")


@require_GET
@capability_required("view_conversations")
@gone_if_deleted
def run_panel(request: HtmxHttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    """The live run panel; polled every second while the run works, answered with 286 once it stops."""
    thread = thread_get(thread_id)
    run = run_get(thread, run_id)
    if not wants_partial(request):
        thread_view_record(thread=thread, actor=request.user, request=request)  # the whole conversation page
        # The run's own page opens its trace; the polled panel loads it only when asked.
        context = {**_detail(request, thread, run=run), "trace": run_trace(run)}
        return render_page(request, DETAIL, context, partial="run_panel")
    panel = run_selectors.run_panel(run)
    message_comments_attach(panel.messages)
    thread_view_record(thread=thread, actor=request.user, request=request, part="run_panel", run=run.id)
    context = {"thread": thread, "panel": panel, "tool_form": ToolOutputsForm(run=run), "oob": True}
    response = render_page(request, DETAIL, context, partial="run_panel")
    return response if panel.polling else HttpResponseStopPolling(response.content)


@require_POST
@capability_required("operate_runs")
def message_add(request: HtmxHttpRequest, thread_id: str) -> HttpResponse:
    """The composer: "Send" adds the message; "Send and run" (``and_run``) also runs the chosen agent."""
    thread = thread_get(thread_id)
    form = MessageForm(data=request.POST)
    and_run = bool(request.POST.get("and_run"))
    run_form = RunStartForm(data=request.POST, agents=agents_for_thread(thread)) if and_run else None
    if form.is_valid() and (run_form is None or run_form.is_valid()):
        agent = run_form.cleaned_data["agent"] if run_form is not None else None
        try:
            message_send(thread=thread, content=form.cleaned_data["content"], agent=agent, actor=request.user)
        except ServiceError as error:
            (run_form or form).add_service_error(error)
        else:
            messages.success(request, f"Message sent; {agent} is running." if agent else "Message sent.")
            return redirect("agents_admin:thread_detail", thread_id=thread.id)
    forms: dict[str, Any] = {"message_form": form}
    if run_form is not None:
        forms["run_form"] = run_form
    return render(request, DETAIL, _detail(request, thread, **forms))


@require_POST
@capability_required("operate_runs")
def run_start(request: HtmxHttpRequest, thread_id: str) -> HttpResponse:
    thread = thread_get(thread_id)
    form = RunStartForm(data=request.POST, agents=agents_for_thread(thread))
    if form.is_valid():
        try:
            run_create(thread=thread, agent=form.cleaned_data["agent"], actor=request.user)
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"Run of {form.cleaned_data['agent']} started.")
            return redirect("agents_admin:thread_detail", thread_id=thread.id)
    return render(request, DETAIL, _detail(request, thread, run_form=form))


@require_POST
@capability_required("operate_runs")
def run_cancel_view(request: HtmxHttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    thread = thread_get(thread_id)
    run = run_get(thread, run_id)
    try:
        run_cancel(run=run, actor=request.user)
    except ServiceError as error:
        return render(request, DETAIL, _detail(request, thread, action_error=error.message))
    messages.success(request, f"Run {run.id} is being cancelled.")
    return redirect("agents_admin:thread_detail", thread_id=thread.id)


@require_POST
@capability_required("operate_runs")
def run_tool_outputs(request: HtmxHttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    thread = thread_get(thread_id)
    run = run_get(thread, run_id)
    form = ToolOutputsForm(data=request.POST, run=run)
    if form.is_valid():
        try:
            run_submit_tool_outputs(run=run, tool_outputs=form.tool_outputs(), actor=request.user)
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, "Tool outputs submitted; the run goes on.")
            return redirect("agents_admin:thread_detail", thread_id=thread.id)
    return render(request, DETAIL, _detail(request, thread, run=run, tool_form=form))


@require_http_methods(["GET", "POST"])
@capability_required("delete_threads")
def thread_delete_view(request: HtmxHttpRequest, thread_id: str) -> HttpResponse:
    thread = thread_get(thread_id)
    confirm = ConfirmForm(
        request.POST if request.method == "POST" else None, action="thread.delete", target=thread.pk,
        user_id=request.user.pk,
    )  # fmt: skip
    context: dict[str, Any] = {"thread": thread, "confirm": confirm.fresh(), "effect": thread_delete_effect(thread)}
    if request.method == "POST" and not confirmed(request, confirm):
        context["error"] = " ".join(confirm.errors.get("confirm", []))
    elif request.method == "POST":
        try:
            thread_delete(thread=thread, actor=request.user)
        except ServiceError as error:
            context["error"] = error.message
        else:
            messages.success(request, f"Thread {thread_id} deleted.")
            return redirect("agents_admin:thread_list")
    return render_page(request, "agents_admin/thread_confirm_delete.html", context, partial="confirm")
