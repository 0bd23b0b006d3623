"""Search across threads (with filters that live in the query string) and the header's jump-to-id box."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents_admin.forms.search import SearchForm
from agents_admin.models import SavedView, ThreadFlag
from agents_admin.selectors.search import object_url, thread_search
from agents_admin.selectors.threads import thread_list
from agents_admin.services.audit import search_record
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page, wants_partial
from agents_admin.views.saved_views import saved_views_context

PAGE = "agents_admin/search.html"


@require_GET
@capability_required("view_conversations")
def search(request: HtmxHttpRequest) -> HttpResponse:
    """Threads with messages matching the words (each with its newest hits and how many), or (without words) the
    threads matching the filters; newest first."""
    form = SearchForm(data=request.GET or None)
    filters, q, cursor = form.filters(), form.search_text, form.cursor_value
    context = {
        "form": form,
        "q": q,
        "query": form.query_without_cursor(),
        "standard_flags": ThreadFlag.STANDARD,
        **saved_views_context(request, SavedView.Page.SEARCH),
    }
    if form.refused:  # 400 for a page; an htmx region gets 200, as htmx swaps no 4xx answer in
        return render_page(request, PAGE, context, partial="results", status=200 if wants_partial(request) else 400)
    if q:
        search_record(q=q, filters=filters.to_params(), actor=request.user, request=request)
        context["results"] = thread_search(q=q, filters=filters, cursor=cursor)
    else:
        context["threads"] = thread_list(filters, cursor=cursor)
    return render_page(request, PAGE, context, partial="results")


@require_GET
@capability_required("view_conversations")
def jump(request: HtmxHttpRequest) -> HttpResponse:
    """Go to the page of the object an id names (``asst_…``, ``thread_…``, ``msg_…``, ``run_…``)."""
    object_id = request.GET.get("id", "").strip()
    url = object_url(object_id) if object_id else None
    if url is None:
        return render(request, "agents_admin/jump_not_found.html", {"object_id": object_id}, status=404)
    return HttpResponseRedirect(url)
