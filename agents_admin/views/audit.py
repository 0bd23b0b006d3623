"""The audit page: filter by actor, action, object id and dates; keyset pages by (at, id), no COUNT."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from agents_admin.forms.access import AuditFilterForm
from agents_admin.selectors.access import audit_page
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
