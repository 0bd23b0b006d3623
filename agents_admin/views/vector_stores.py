"""Vector stores in the console: what is indexed, its status and size, and which agents search it."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from agents_admin.models import VectorStore, VectorStoreFile
from agents_admin.selectors.vector_stores import agents_using, file_counts, store_status, stores_overview
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, render_page


@require_GET
@capability_required("view_agent_config")
def vector_store_list(request: HtmxHttpRequest) -> HttpResponse:
    stores = list(stores_overview())
    context = {"stores": stores, "indexing": any(s.files_indexing for s in stores)}
    return render_page(request, "agents_admin/vector_store_list.html", context, partial="list")


@require_GET
@capability_required("view_agent_config")
def vector_store_detail(request: HtmxHttpRequest, store_id: str) -> HttpResponse:
    store = VectorStore.objects.select_related("project").filter(pk=store_id).first()
    if store is None:
        raise Http404("No such vector store.")
    counts = file_counts(store)
    files = VectorStoreFile.objects.filter(vector_store=store).select_related("file").order_by("-created_at", "-id")
    context = {
        "store": store,
        "counts": counts,
        "status": store_status(store, counts),
        "files": files[:500],
        "agents": agents_using(store),
        "indexed_bytes": sum(f.usage_bytes for f in files[:500]),
    }
    return render_page(request, "agents_admin/vector_store_detail.html", context, partial="files")
