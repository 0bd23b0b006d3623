"""Vector stores, their files and file batches (the ``file_search`` tool's indexes)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http.response import HttpResponseBase

from agents_admin.api.base import Call, ok
from agents_admin.api.errors import invalid, not_found
from agents_admin.api.pagination import page
from agents_admin.api.serializers import deleted_json, ts
from agents_admin.models import VectorStore, VectorStoreFile, VectorStoreFileBatch
from agents_admin.selectors.vector_stores import file_counts, store_status, store_usage_bytes
from agents_admin.services.vector_stores import (
    file_batch_cancel,
    file_batch_create,
    vector_store_create,
    vector_store_delete,
    vector_store_file_add,
    vector_store_file_remove,
    vector_store_update,
)

FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")


def store_json(store: VectorStore) -> dict[str, Any]:
    counts = file_counts(store)
    return {
        "id": store.id,
        "object": "vector_store",
        "created_at": ts(store.created_at),
        "name": store.name or None,
        "usage_bytes": store_usage_bytes(store),
        "file_counts": counts,
        "status": store_status(store, counts),
        "expires_after": store.expires_after,
        "expires_at": ts(store.expires_at),
        "last_active_at": ts(store.last_active_at),
        "metadata": store.metadata or {},
    }


def store_file_json(entry: VectorStoreFile) -> dict[str, Any]:
    return {
        "id": entry.file_id,
        "object": "vector_store.file",
        "usage_bytes": entry.usage_bytes,
        "created_at": ts(entry.created_at),
        "vector_store_id": entry.vector_store_id,
        "status": entry.status,
        "last_error": entry.last_error,
        "chunking_strategy": entry.chunking_strategy,
    }


def batch_json(batch: VectorStoreFileBatch) -> dict[str, Any]:
    counts = dict.fromkeys(FILE_STATUSES, 0)
    for status in VectorStoreFile.objects.filter(batch=batch).values_list("status", flat=True):
        counts[status] += 1
    return {
        "id": batch.id,
        "object": "vector_store.files_batch",
        "created_at": ts(batch.created_at),
        "vector_store_id": batch.vector_store_id,
        "status": batch.status,
        "file_counts": {**counts, "total": sum(counts.values())},
    }


def get_store(call: Call, store_id: str) -> VectorStore:
    store = VectorStore.objects.filter(project=call.project, pk=store_id).first()
    if store is None:
        raise not_found("vector store", store_id)
    return store


def _refuse_data_sources(body: dict[str, Any]) -> None:
    for key in ("data_sources", "data_source", "configuration"):
        if body.get(key):
            raise invalid(
                f"{key}: stores built from Azure data assets need Azure storage; upload the files to /files and "
                "pass their ids.",
                param=key,
            )


# --- stores ---------------------------------------------------------------------------------------------


def create(call: Call) -> HttpResponseBase:
    """Create a vector store (its files are indexed in the background)."""
    _refuse_data_sources(call.body)
    store = vector_store_create(
        project=call.project,
        name=call.body.get("name"),
        file_ids=call.body.get("file_ids"),
        expires_after=call.body.get("expires_after"),
        chunking_strategy=call.body.get("chunking_strategy"),
        metadata=call.body.get("metadata"),
        actor_label=call.actor_label,
    )
    return ok(store_json(store))


def list_(call: Call) -> HttpResponseBase:
    """List vector stores."""
    return ok(page(VectorStore.objects.filter(project=call.project), call.query, store_json))


def retrieve(call: Call, store_id: str) -> HttpResponseBase:
    """Get a vector store."""
    return ok(store_json(get_store(call, store_id)))


def update(call: Call, store_id: str) -> HttpResponseBase:
    """Change a vector store's name, expiry or metadata."""
    store = get_store(call, store_id)
    fields = {k: call.body[k] for k in ("name", "expires_after", "metadata") if k in call.body}
    return ok(store_json(vector_store_update(store=store, actor_label=call.actor_label, **fields)))


def delete(call: Call, store_id: str) -> HttpResponseBase:
    """Delete a vector store and its index (the files stay)."""
    vector_store_delete(store=get_store(call, store_id), actor_label=call.actor_label)
    return ok(deleted_json(store_id, "vector_store.deleted"))


# --- files ------------------------------------------------------------------------------------------------


def _entries(queryset: QuerySet[VectorStoreFile], call: Call) -> QuerySet[VectorStoreFile]:
    status = call.query.get("filter")
    if status:
        if status not in FILE_STATUSES:
            raise invalid(f"filter must be one of {', '.join(FILE_STATUSES)}.", param="filter")
        queryset = queryset.filter(status=status)
    return queryset


def file_create(call: Call, store_id: str) -> HttpResponseBase:
    """Add a file to a vector store."""
    store = get_store(call, store_id)
    _refuse_data_sources(call.body)
    entry = vector_store_file_add(
        store=store, file_id=call.body.get("file_id"), chunking_strategy=call.body.get("chunking_strategy")
    )
    return ok(store_file_json(entry))


def file_list(call: Call, store_id: str) -> HttpResponseBase:
    """List a vector store's files (``filter`` by status)."""
    store = get_store(call, store_id)
    entries = _entries(VectorStoreFile.objects.filter(vector_store=store), call)
    return ok(_page_by_file_id(entries, call))


def _page_by_file_id(entries: QuerySet[VectorStoreFile], call: Call) -> dict[str, Any]:
    # Cursors are file ids (the entries' API ids): turn them into the entries' own keys for the keyset.
    query = call.query.copy()
    for cursor in ("after", "before"):
        value = query.get(cursor)
        if value:
            pk = entries.filter(file_id=value).values_list("pk", flat=True).first()
            if pk is None:
                raise invalid(f"No item with id '{value}' in this list.", param=cursor)
            query[cursor] = str(pk)
    return page(entries, query, store_file_json)


def _entry(call: Call, store_id: str, file_id: str) -> VectorStoreFile:
    entry = VectorStoreFile.objects.filter(vector_store=get_store(call, store_id), file_id=file_id).first()
    if entry is None:
        raise not_found("vector store file", file_id)
    return entry


def file_retrieve(call: Call, store_id: str, file_id: str) -> HttpResponseBase:
    """Get a file of a vector store (its indexing status)."""
    return ok(store_file_json(_entry(call, store_id, file_id)))


def file_delete(call: Call, store_id: str, file_id: str) -> HttpResponseBase:
    """Take a file out of a vector store (the file itself stays)."""
    vector_store_file_remove(entry=_entry(call, store_id, file_id))
    return ok(deleted_json(file_id, "vector_store.file.deleted"))


# --- batches ----------------------------------------------------------------------------------------------


def _batch(call: Call, store_id: str, batch_id: str) -> VectorStoreFileBatch:
    batch = VectorStoreFileBatch.objects.filter(vector_store=get_store(call, store_id), pk=batch_id).first()
    if batch is None:
        raise not_found("file batch", batch_id)
    return batch


def batch_create(call: Call, store_id: str) -> HttpResponseBase:
    """Add several files to a vector store at once."""
    store = get_store(call, store_id)
    _refuse_data_sources(call.body)
    batch = file_batch_create(
        store=store, file_ids=call.body.get("file_ids"), chunking_strategy=call.body.get("chunking_strategy")
    )
    return ok(batch_json(batch))


def batch_retrieve(call: Call, store_id: str, batch_id: str) -> HttpResponseBase:
    """Get a file batch."""
    return ok(batch_json(_batch(call, store_id, batch_id)))


def batch_cancel(call: Call, store_id: str, batch_id: str) -> HttpResponseBase:
    """Cancel the files of a batch not indexed yet."""
    return ok(batch_json(file_batch_cancel(batch=_batch(call, store_id, batch_id))))


def batch_files(call: Call, store_id: str, batch_id: str) -> HttpResponseBase:
    """List a batch's files (``filter`` by status)."""
    batch = _batch(call, store_id, batch_id)
    return ok(_page_by_file_id(_entries(VectorStoreFile.objects.filter(batch=batch), call), call))
