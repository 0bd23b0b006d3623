"""The usage page (charts of runs, tokens, latency, errors and cost from the rollups), its JSON and CSV, the runs
behind a chart point, and the model price table."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents_admin.errors import ServiceError
from agents_admin.forms.usage import ModelPriceForm, RunFilterForm, UsageForm
from agents_admin.models import ModelPrice
from agents_admin.selectors.runs import runs_page
from agents_admin.selectors.usage import (
    DIMENSION_COLUMNS,
    UsageFilters,
    UsageReport,
    dimension_choices,
    runs_filter,
    usage_report,
)
from agents_admin.services.usage import price_delete, price_save
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page

CHARTS = ("runs", "tokens", "latency", "errors", "cost", "breakdown")
STATUSES = ("completed", "failed", "cancelled", "expired", "incomplete")


def _report(request: HtmxHttpRequest) -> tuple[UsageForm, UsageReport]:
    form = UsageForm(request.GET, choices=dimension_choices())
    form.is_valid()
    return form, usage_report(form.filters())


def _runs_url(filters: UsageFilters, start: datetime | None = None, end: datetime | None = None, **extra: str) -> str:
    """The runs list of one chart point: the bucket's time range and the page's filters, plus ``extra``."""
    params = {"start": (start or filters.start).isoformat(), "end": (end or filters.end).isoformat(), **filters.dims}
    params.update({name: value for name, value in extra.items() if value is not None})
    return reverse("agents_admin:usage_runs") + "?" + urlencode(params)


def _number(value: Any) -> Any:
    return float(value) if value is not None and not isinstance(value, int) else value


def usage_payload(report: UsageReport) -> dict[str, Any]:
    """The charts' data: one entry per bucket, the breakdown and the error codes, each with the link of the runs
    it counted (append ``&status=<status>`` for one status). Documented in docs/usage.md."""
    f = report.filters
    # Each point's runs: the page's filters and the bucket's time range; a status is appended as "&status=…".
    base = reverse("agents_admin:usage_runs") + "?" + urlencode({"from": "usage", **f.dims})
    points = []
    for bucket, point in zip(report.buckets, report.points, strict=True):
        end = bucket + f.step
        points.append({
            "bucket": bucket.isoformat(),
            "label": bucket.strftime("%Y-%m-%d" if f.period == "day" else "%m-%d %H:00"),
            "runs": point.by_status,
            "prompt_tokens": point.counters["prompt_tokens"],
            "completion_tokens": point.counters["completion_tokens"],
            "tool_calls": point.counters["tool_calls"],
            "latency_p50_ms": point.p50_ms,
            "latency_p95_ms": point.p95_ms,
            "error_rate": point.error_rate,
            "cost": {currency: float(point.cost.get(currency, 0)) for currency in report.currencies},
            "runs_url": f"{base}&start={quote(bucket.isoformat())}&end={quote(end.isoformat())}",
        })  # fmt: skip
    totals = report.totals
    return {
        "range": f.range_name,
        "period": f.period,
        "start": f.start.isoformat(),
        "end": f.end.isoformat(),
        "filters": f.dims,
        "by": f.by,
        "currencies": report.currencies,
        "totals": {
            "runs": totals.by_status,
            "prompt_tokens": totals.counters["prompt_tokens"],
            "completion_tokens": totals.counters["completion_tokens"],
            "tool_calls": totals.counters["tool_calls"],
            "latency_p50_ms": totals.p50_ms,
            "latency_p95_ms": totals.p95_ms,
            "error_rate": totals.error_rate,
            "cost": {currency: _number(amount) for currency, amount in totals.cost.items()},
            "unpriced_tokens": totals.unpriced_tokens,
        },
        "points": points,
        "breakdown": [
            {
                "value": value,
                "label": label,
                "runs": t.runs,
                "failed": t.counters["runs_failed"],
                "prompt_tokens": t.counters["prompt_tokens"],
                "completion_tokens": t.counters["completion_tokens"],
                "latency_p95_ms": t.p95_ms,
                "cost": {currency: _number(amount) for currency, amount in t.cost.items()},
                "runs_url": _runs_url(f, **{f.by: value}),
            }
            for value, label, t in report.breakdown
        ],
        "errors": [
            {"code": code, "count": count, "runs_url": _runs_url(f, error=code)} for code, count in report.errors
        ],
    }


@require_GET
@capability_required("view_usage")
def usage(request: HtmxHttpRequest) -> HttpResponse:
    form, report = _report(request)
    payload = usage_payload(report)
    query = request.GET.urlencode()
    context = {
        "form": form,
        "report": report,
        "payload": payload,
        "payload_json": json.dumps(payload, cls=DjangoJSONEncoder),
        "query": query,
        "charts": CHARTS,
        "ranges": [(name, label, _with(request, range=name)) for name, label in form.fields["range"].choices],
        "by_links": [(name, label, _with(request, by=name)) for name, label in form.fields["by"].choices],
    }
    return render_page(request, "agents_admin/usage.html", context, partial="report")


def _with(request: HtmxHttpRequest, **changes: str) -> str:
    params = request.GET.copy()
    for name, value in changes.items():
        params[name] = value
    if changes.get("range") and changes["range"] != "custom":
        params.pop("start", None)
        params.pop("end", None)
    return "?" + params.urlencode()


@require_GET
@capability_required("view_usage")
def usage_data(request: HtmxHttpRequest) -> JsonResponse:
    form, report = _report(request)
    payload = usage_payload(report)
    if form.errors:
        payload["errors_in_query"] = {name: [str(e) for e in errors] for name, errors in form.errors.items()}
    return JsonResponse(payload)


@require_GET
@capability_required("view_usage")
def usage_csv(request: HtmxHttpRequest, chart: str) -> HttpResponse:
    """One chart's series as CSV, the same numbers as its table on the page."""
    if chart not in CHARTS:
        return HttpResponse(
            f"Unknown chart {chart!r}; one of {', '.join(CHARTS)}.", status=404, content_type="text/plain"
        )
    _, report = _report(request)
    payload = usage_payload(report)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"usage-{chart}-{report.filters.start:%Y%m%d%H}-{report.filters.end:%Y%m%d%H}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    for row in csv_rows(chart, payload):
        writer.writerow(row)
    return response


def csv_rows(chart: str, payload: dict[str, Any]) -> list[list[Any]]:
    points = payload["points"]
    currencies = payload["currencies"]
    if chart == "runs":
        return [["bucket", *STATUSES]] + [[p["bucket"], *(p["runs"][s] for s in STATUSES)] for p in points]
    if chart == "tokens":
        return [["bucket", "prompt_tokens", "completion_tokens", "tool_calls"]] + [
            [p["bucket"], p["prompt_tokens"], p["completion_tokens"], p["tool_calls"]] for p in points
        ]
    if chart == "latency":
        return [["bucket", "p50_ms", "p95_ms"]] + [
            [p["bucket"], p["latency_p50_ms"], p["latency_p95_ms"]] for p in points
        ]
    if chart == "errors":
        rows: list[list[Any]] = [["bucket", "runs", "failed", "error_rate"]]
        rows += [[p["bucket"], sum(p["runs"].values()), p["runs"]["failed"], p["error_rate"]] for p in points]
        rows += [[], ["error_code", "count"]] + [[e["code"], e["count"]] for e in payload["errors"]]
        return rows
    if chart == "cost":
        return [["bucket", *currencies]] + [[p["bucket"], *(p["cost"].get(c, 0) for c in currencies)] for p in points]
    return [["value", "label", "runs", "failed", "prompt_tokens", "completion_tokens", "latency_p95_ms",
             *(f"cost_{c}" for c in currencies)]] + [
        [b["value"], b["label"], b["runs"], b["failed"], b["prompt_tokens"], b["completion_tokens"],
         b["latency_p95_ms"], *(b["cost"].get(c, 0) for c in currencies)]
        for b in payload["breakdown"]
    ]  # fmt: skip


@require_GET
@capability_required("view_usage", "view_conversations")
def usage_runs(request: HtmxHttpRequest) -> HttpResponse:
    """The runs behind a chart point: created in the bucket, with the page's filters."""
    form = RunFilterForm(request.GET)
    values = form.values()
    page = runs_page(runs_filter(**values), cursor=request.GET.get("after", ""))
    params = request.GET.copy()
    params.pop("after", None)
    context = {"form": form, "page": page, "values": values, "query": params.urlencode(),
               "dimension_names": DIMENSION_COLUMNS}  # fmt: skip
    return render_page(request, "agents_admin/usage_runs.html", context, partial="rows")


@require_http_methods(["GET", "POST"])
@capability_required("manage_connections")
def price_list(request: HtmxHttpRequest) -> HttpResponse:
    form = ModelPriceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            price = price_save(price=None, fields=form.cleaned_data, actor=request.user)
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"Price of {price.model} from {price.effective_from} added.")
            return redirect("agents_admin:price_list")
    prices = ModelPrice.objects.order_by("model", "-effective_from")
    return render_page(request, "agents_admin/price_list.html", {"form": form, "prices": prices}, partial="form")


@require_http_methods(["GET", "POST"])
@capability_required("manage_connections")
def price_edit(request: HtmxHttpRequest, price_id: int) -> HttpResponse:
    price = get_object_or_404(ModelPrice, pk=price_id)
    form = ModelPriceForm(request.POST or None, instance=price)
    if request.method == "POST" and form.is_valid():
        try:
            price_save(price=ModelPrice.objects.get(pk=price.pk), fields=form.cleaned_data, actor=request.user)
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, "Price saved.")
            return redirect("agents_admin:price_list")
    return render_page(request, "agents_admin/price_edit.html", {"form": form, "price": price}, partial="form")


@require_POST
@capability_required("manage_connections")
def price_delete_view(request: HtmxHttpRequest, price_id: int) -> HttpResponse:
    price = get_object_or_404(ModelPrice, pk=price_id)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm the deletion.")
        return redirect("agents_admin:price_edit", price_id=price.pk)
    price_delete(price=price, actor=request.user)
    messages.success(request, f"Price of {price.model} from {price.effective_from} deleted.")
    return redirect("agents_admin:price_list")
