"""Console pages for retention: policies, purge reports (live progress), holds.

Capabilities (agents_admin.roles): policies, purges, stop/resume and releasing a hold need manage_retention;
reading purge reports needs view_audit; placing a hold (a reviewer asking for one) needs review_conversations.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.forms import Form
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents_admin.errors import ServiceError
from agents_admin.forms.retention import CursorForm, HoldForm, PolicyEnableForm, RetentionPolicyForm, RunNowForm
from agents_admin.models import PurgeReport, RetentionPolicy, Thread, ThreadHold
from agents_admin.selectors import retention as sel
from agents_admin.services import retention
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page


def _form_error(form: Form, error: ServiceError) -> None:
    form.add_error(error.param if error.param in form.fields else None, error.message)


def _before(request: HtmxHttpRequest) -> int | None:
    cursor = CursorForm(request.GET)
    return cursor.cleaned_data.get("before") if cursor.is_valid() else None


@require_GET
@capability_required("manage_retention")
def retention_policy_list(request: HtmxHttpRequest) -> HttpResponse:
    policies = list(sel.policy_list())
    default = next((p for p in policies if p.is_default), None)
    rows = [(p, retention.policy_effective(p, default=default)) for p in policies]
    return render(request, "agents_admin/retention_policy_list.html", {"rows": rows, "default": default})


@require_http_methods(["GET", "POST"])
@capability_required("manage_retention")
def retention_policy_create(request: HtmxHttpRequest) -> HttpResponse:
    form = RetentionPolicyForm(request.POST or None, policy=None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            policy = retention.policy_save(policy=None, actor=request.user, **form.cleaned_data)
        except ServiceError as error:
            _form_error(form, error)
        else:
            messages.success(request, f"Policy “{policy.name}” created.")
            return redirect("agents_admin:retention_policy_detail", policy_id=policy.pk)
    return render(request, "agents_admin/retention_policy_form.html", {"form": form, "policy": None})


@require_http_methods(["GET", "POST"])
@capability_required("manage_retention")
def retention_policy_edit(request: HtmxHttpRequest, policy_id: int) -> HttpResponse:
    policy = get_object_or_404(RetentionPolicy, pk=policy_id)
    form = RetentionPolicyForm(
        request.POST or None, policy=policy, actor=request.user, initial=RetentionPolicyForm.initial_for(policy)
    )
    if request.method == "POST" and form.is_valid():
        try:
            retention.policy_save(policy=policy, actor=request.user, **form.cleaned_data)
        except ServiceError as error:
            _form_error(form, error)
        else:
            messages.success(request, f"Policy “{policy.name}” saved.")
            return redirect("agents_admin:retention_policy_detail", policy_id=policy.pk)
    return render(request, "agents_admin/retention_policy_form.html", {"form": form, "policy": policy})


def _policy_page(
    request: HtmxHttpRequest, policy: RetentionPolicy, *, run_form: RunNowForm | None = None, status: int = 200
) -> HttpResponse:
    reports, _ = sel.report_page(policy_id=policy.pk)
    fresh = retention.policy_preview(policy, since=timezone.now() - retention.DRY_RUN_FRESH_FOR)
    context: dict[str, Any] = {
        "policy": policy,
        "agents": list(policy.agents.all()[:50]),
        "effective": retention.policy_effective(policy, default=retention.policy_default()),
        "preview": sel.latest_preview(policy.pk),
        # Vouches for "Run now" (and lets the policy be enabled): the same selection, completed, recent.
        "fresh_preview": fresh,
        "can_enable": policy.enabled or retention.policy_preview(policy) is not None,
        "run_form": run_form or RunNowForm(initial={"preview": fresh.pk if fresh else None}),
        "reports": reports[:10],
    }
    return render(request, "agents_admin/retention_policy_detail.html", context, status=status)


@require_GET
@capability_required("manage_retention")
def retention_policy_detail(request: HtmxHttpRequest, policy_id: int) -> HttpResponse:
    policy = get_object_or_404(RetentionPolicy.objects.select_related("project"), pk=policy_id)
    return _policy_page(request, policy)


@require_POST
@capability_required("manage_retention")
def retention_policy_enable(request: HtmxHttpRequest, policy_id: int) -> HttpResponse:
    """Schedule or pause a policy; scheduling needs a completed dry run of what it selects."""
    policy = get_object_or_404(RetentionPolicy, pk=policy_id)
    form = PolicyEnableForm(request.POST)
    enabled = bool(form.is_valid() and form.cleaned_data["enabled"])
    try:
        retention.policy_enable(policy=policy, enabled=enabled, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Policy “{policy.name}” {'enabled' if enabled else 'paused'}.")
    return redirect("agents_admin:retention_policy_detail", policy_id=policy.pk)


@require_POST
@capability_required("manage_retention")
def retention_policy_delete(request: HtmxHttpRequest, policy_id: int) -> HttpResponse:
    policy = get_object_or_404(RetentionPolicy, pk=policy_id)
    retention.policy_delete(policy=policy, actor=request.user)
    messages.success(request, f"Policy “{policy.name}” deleted; its reports are kept.")
    return redirect("agents_admin:retention_policy_list")


@require_POST
@capability_required("manage_retention")
def retention_policy_dry_run(request: HtmxHttpRequest, policy_id: int) -> HttpResponse:
    policy = get_object_or_404(RetentionPolicy, pk=policy_id)
    report = retention.purge_start(policy=policy, trigger=PurgeReport.Trigger.MANUAL, actor=request.user, dry_run=True)
    messages.success(request, f"Dry run of “{policy.name}” started; this report follows it.")
    return redirect("agents_admin:purge_report_detail", report_id=report.pk)


@require_POST
@capability_required("manage_retention")
def retention_policy_run(request: HtmxHttpRequest, policy_id: int) -> HttpResponse:
    """Run now: with ``preview=<report id>`` of a dry run of the same selection from the last hour (the run
    reuses its cutoff, so it picks the same threads), or with the policy's name typed in ``confirm_name``."""
    policy = get_object_or_404(RetentionPolicy.objects.select_related("project"), pk=policy_id)
    form = RunNowForm(request.POST)
    if form.is_valid():
        try:
            report = retention.purge_start_confirmed(
                policy=policy,
                actor=request.user,
                preview_id=form.cleaned_data["preview"],
                confirm_name=form.cleaned_data["confirm_name"],
            )
        except ServiceError as error:
            _form_error(form, error)
        else:
            messages.success(request, f"Policy “{policy.name}” is running; this report follows it.")
            return redirect("agents_admin:purge_report_detail", report_id=report.pk)
    return _policy_page(request, policy, run_form=form, status=400)


@require_GET
@capability_required("view_audit")
def purge_report_list(request: HtmxHttpRequest) -> HttpResponse:
    reports, next_before = sel.report_page(before=_before(request))
    context = {"reports": reports, "next_before": next_before}
    return render_page(request, "agents_admin/purge_report_list.html", context, partial="rows")


@require_GET
@capability_required("view_audit")
def purge_report_detail(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    report = get_object_or_404(PurgeReport.objects.select_related("policy", "triggered_by"), pk=report_id)
    return render_page(request, "agents_admin/purge_report_detail.html", {"report": report}, partial="progress")


@require_POST
@capability_required("manage_retention")
def purge_report_stop(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    report = retention.purge_stop(report=get_object_or_404(PurgeReport, pk=report_id), actor=request.user)
    return render_page(request, "agents_admin/purge_report_detail.html", {"report": report}, partial="progress")


@require_POST
@capability_required("manage_retention")
def purge_report_resume(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    report = get_object_or_404(PurgeReport, pk=report_id)
    try:
        report = retention.purge_resume(report=report, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    return render_page(request, "agents_admin/purge_report_detail.html", {"report": report}, partial="progress")


@require_GET
@capability_required("view_conversations")
def hold_list(request: HtmxHttpRequest) -> HttpResponse:
    holds, next_before = sel.hold_page(now=timezone.now(), before=_before(request))
    return render_page(
        request, "agents_admin/hold_list.html", {"holds": holds, "next_before": next_before}, partial="rows"
    )


def _holds_response(request: HtmxHttpRequest, thread: Thread, form: HoldForm, status: int = 200) -> HttpResponse:
    context = {"thread": thread, "holds": sel.thread_holds(thread.pk), "hold_form": form}
    return render_page(request, "agents_admin/thread_holds.html", context, partial="holds", status=status)


@require_GET
@capability_required("view_conversations")
def thread_holds(request: HtmxHttpRequest, thread_id: str) -> HttpResponse:
    """The holds pane of a thread: a page of its own, and the fragment the thread page loads."""
    thread = get_object_or_404(Thread, pk=thread_id)
    return _holds_response(request, thread, HoldForm())


@require_POST
@capability_required("review_conversations")
def thread_hold_place(request: HtmxHttpRequest, thread_id: str) -> HttpResponse:
    thread = get_object_or_404(Thread, pk=thread_id)
    form = HoldForm(request.POST)
    if form.is_valid():
        try:
            retention.hold_place(thread=thread, actor=request.user, **form.cleaned_data)
        except ServiceError as error:
            _form_error(form, error)
        else:
            messages.success(request, "Hold placed: retention skips this thread while it lasts.")
            if not getattr(request, "htmx", False):
                return redirect("agents_admin:thread_holds", thread_id=thread.pk)
            form = HoldForm()
    return _holds_response(request, thread, form)


@require_POST
@capability_required("manage_retention")
def thread_hold_release(request: HtmxHttpRequest, thread_id: str, hold_id: int) -> HttpResponse:
    hold = get_object_or_404(ThreadHold.objects.select_related("thread"), pk=hold_id, thread_id=thread_id)
    try:
        retention.hold_release(hold=hold, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    if not getattr(request, "htmx", False):
        return redirect("agents_admin:thread_holds", thread_id=thread_id)
    return _holds_response(request, hold.thread, HoldForm())
