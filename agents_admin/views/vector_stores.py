"""Vector stores in the console: what is indexed, its status, size and search mode, which agents search it;
create one from the project's files, and delete one (confirmed, with counts)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat, pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from agents_admin.errors import InvalidInput
from agents_admin.forms.confirm import ConfirmForm
from agents_admin.forms.vector_stores import VectorStoreForm
from agents_admin.models import VectorStore, VectorStoreFile
from agents_admin.selectors.vector_stores import (
    agents_using,
    file_counts,
    store_size,
    store_status,
    stores_overview,
)
from agents_admin.services.vector_stores import vector_store_create, vector_store_delete
from agents_admin.views.access import capability_required
from agents_admin.views.common import Confirmation, HtmxHttpRequest, confirmed, render_confirm, render_page

# The service's parameter -> the form's field, so an error shows beside the field.
FORM_FIELDS = {"name": "name", "file_ids": "files", "expires_after": "expires_days"}


@require_GET
@capability_required("view_agent_config")
def vector_store_list(request: HtmxHttpRequest) -> HttpResponse:
    stores = list(stores_overview())
    context = {"stores": stores, "indexing": any(s.files_indexing for s in stores)}
    return render_page(request, "agents_admin/vector_store_list.html", context, partial="list")


@require_GET
@capability_required("view_agent_config")
def vector_store_detail(request: HtmxHttpRequest, store_id: str) -> HttpResponse:
    store = _store_get(store_id)
    counts = file_counts(store)
    files = VectorStoreFile.objects.filter(vector_store=store).select_related("file").order_by("-created_at", "-id")
    context = {
        "store": store,
        "counts": counts,
        "status": store_status(store, counts),
        "files": files[:500],
        "agents": agents_using(store),
        "size": store_size(store),
    }
    return render_page(request, "agents_admin/vector_store_detail.html", context, partial="files")


@require_http_methods(["GET", "POST"])
@capability_required("edit_agents")
def vector_store_create_view(request: HtmxHttpRequest) -> HttpResponse:
    form = VectorStoreForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        days = data["expires_days"]
        try:
            store = vector_store_create(
                project=data["project"], name=data["name"], file_ids=data["files"], actor=request.user,
                expires_after={"anchor": "last_active_at", "days": days} if days else None,
            )  # fmt: skip
        except InvalidInput as exc:
            form.add_error(FORM_FIELDS.get((exc.param or "").split("[")[0].split(".")[0]), exc.message)
        else:
            messages.success(request, f"Vector store “{store}” created; its files are being indexed.")
            return redirect("agents_admin:vector_store_detail", store_id=store.id)
    return render_page(request, "agents_admin/vector_store_form.html", {"form": form}, partial="form")


@require_http_methods(["POST"])
@capability_required("edit_agents")
def vector_store_delete_view(request: HtmxHttpRequest, store_id: str) -> HttpResponse:
    store = _store_get(store_id)
    confirm = ConfirmForm(request.POST, action="vector_store.delete", target=store.pk, user_id=request.user.pk)
    if not confirmed(request, confirm):
        return render_confirm(request, _delete_confirmation(store, confirm))
    vector_store_delete(store=store, actor=request.user)
    messages.success(request, f"Vector store “{store}” deleted.")
    return redirect("agents_admin:vector_store_list")


def _delete_confirmation(store: VectorStore, confirm: ConfirmForm) -> Confirmation:
    size = store_size(store)
    agents = agents_using(store)
    effects = [
        f"{size.files} file{pluralize(size.files)} leave the store and its {size.chunks:,} indexed "
        f"chunk{pluralize(size.chunks)} ({filesizeformat(size.text_bytes)} of text) are deleted; the files "
        "themselves stay in the project. It cannot be undone.",
        f"{len(agents)} agent{pluralize(len(agents))} name it for file search"
        + (f" ({', '.join(str(a) for a in agents[:5])}{'…' if len(agents) > 5 else ''})" if agents else "")
        + "; their searches leave it out from now on.",
    ]
    return Confirmation(
        title=f"Delete vector store “{store}”?",
        effects=effects,
        button="Delete vector store",
        action=reverse("agents_admin:vector_store_delete", args=[store.pk]),
        cancel=reverse("agents_admin:vector_store_detail", args=[store.pk]),
        form=confirm,
    )


def _store_get(store_id: str) -> VectorStore:
    store = VectorStore.objects.select_related("project", "embedding_connection").filter(pk=store_id).first()
    if store is None:
        raise Http404("No such vector store.")
    return store
