"""The audit page: filter by actor, action, object id and dates; keyset pages by (at, id), no COUNT; CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from agents_admin.forms.access import AuditFilterForm
from agents_admin.selectors.access import audit_events_all, audit_page
from agents_admin.services.audit import audit_record
from agents_admin.services.exports import csv_cell
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page


@require_GET
@capability_required("view_audit")
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(data=request.GET or None)
    form.is_valid()
    page = audit_page(**form.filters())
    context = {"form": form, "page": page, "query": form.query_without_cursor()}
    return render_page(request, "agents_admin/audit_list.html", context, partial="results")


CSV_COLUMNS = ("at", "actor", "actor_id", "action", "object_type", "object_id", "project_id", "before", "after", "ip")


@require_GET
@capability_required("view_audit")
def audit_export(request: HtmxHttpRequest) -> HttpResponse:
    """Every record matching the page's filters as CSV, streamed a keyset batch at a time; itself recorded."""
    form = AuditFilterForm(data=request.GET or None)
    form.is_valid()
    filters = form.filters()
    filters.pop("cursor", None)
    # The log holds search words and note text: reading it in bulk is recorded like any other export.
    shown = {key: str(value) for key, value in filters.items() if value}
    audit_record(
        action="audit.export", actor=request.user, object_type="audit", after={"filters": shown}, request=request
    )
    response = StreamingHttpResponse(_csv_rows(audit_events_all(**filters)), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response  # type: ignore[return-value]  # access.py's decorator types views as returning HttpResponse


def _csv_rows(events: Iterator[Any]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow(
            [
                event.at.isoformat(),
                csv_cell(event.actor_label),
                event.actor_id or "",
                event.action,
                event.object_type,
                csv_cell(event.object_id),
                event.project_id or "",
                csv_cell(json.dumps(event.before, ensure_ascii=False, sort_keys=True))
                if event.before is not None
                else "",
                csv_cell(json.dumps(event.after, ensure_ascii=False, sort_keys=True))
                if event.after is not None
                else "",
                event.ip or "",
            ]
        )
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
