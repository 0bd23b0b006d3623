"""Writes on vector stores: create, change and delete stores, add and remove files (one by one or in batches),
index a file (a worker: extract its text, chunk it, store the chunks), and expire stores past their time.

A file added to a store is ``in_progress`` until a worker has indexed it (``completed``) or could not
(``failed``, with ``last_error``); the store is ``in_progress`` while any of its files is. Indexing is
idempotent: it replaces whatever chunks the file already had, in one transaction.

A store made while a model connection serves embeddings records that connection and model: its chunks are
embedded in batches as they are indexed (a failed embeddings call fails that file with the reason), and a search
fuses the vector ranking with the full-text one (reciprocal rank fusion). Without one, full text ranks alone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from agents_admin import validation
from agents_admin.errors import InvalidInput
from agents_admin.lib.documents import (
    DEFAULT_MAX_CHUNK_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    UnreadableDocument,
    UnsupportedDocument,
    document_text,
    text_chunks,
)
from agents_admin.lib.vectors import rank_fusion, vector_bytes
from agents_admin.models import (
    File,
    ModelConnection,
    Project,
    Thread,
    VectorStore,
    VectorStoreChunk,
    VectorStoreFile,
    VectorStoreFileBatch,
)
from agents_admin.providers.base import ProviderError
from agents_admin.providers.embeddings import EMBEDDING_BATCH
from agents_admin.providers.registry import embedder_from_connection, embeddings_connection_for
from agents_admin.selectors.vector_stores import ChunkHit, chunks_by_id, chunks_search, store_size, store_vectors
from agents_admin.services.audit import Actor, audit_record
from agents_admin.services.dispatch import VECTOR_STORE_FILE_INDEX, task_send

logger = logging.getLogger(__name__)

AUTO_CHUNKING = {
    "type": "static",
    "static": {"max_chunk_size_tokens": DEFAULT_MAX_CHUNK_TOKENS, "chunk_overlap_tokens": DEFAULT_OVERLAP_TOKENS},
}
MAX_FILES_PER_CALL = 500
# The largest document text indexed (characters); the rest of a bigger file is left out and said so.
MAX_TEXT_CHARS = 8_000_000


# --- validation -------------------------------------------------------------------------------------------


def chunking_clean(value: Any, *, param: str = "chunking_strategy", default: dict[str, Any] | None = None) -> dict:
    """``{"type": "auto"}`` (the service's 800 / 400 tokens) or ``{"type": "static", "static": {...}}``."""
    if value is None:
        return default or AUTO_CHUNKING
    if not isinstance(value, dict) or value.get("type") not in ("auto", "static"):
        raise InvalidInput("chunking_strategy.type must be 'auto' or 'static'.", param=f"{param}.type")
    if value["type"] == "auto":
        return AUTO_CHUNKING
    static = value.get("static")
    if not isinstance(static, dict):
        raise InvalidInput("A static chunking_strategy needs a 'static' object.", param=f"{param}.static")
    size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
    if isinstance(size, bool) or not isinstance(size, int) or not 100 <= size <= 4096:
        raise InvalidInput(
            "max_chunk_size_tokens must be an integer from 100 to 4096.", param=f"{param}.static.max_chunk_size_tokens"
        )
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= size // 2:
        raise InvalidInput(
            "chunk_overlap_tokens must be an integer from 0 to half of max_chunk_size_tokens.",
            param=f"{param}.static.chunk_overlap_tokens",
        )
    return {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}


def expires_after_clean(value: Any, *, param: str = "expires_after") -> dict[str, Any] | None:
    if value is None:
        return None
    days = value.get("days") if isinstance(value, dict) else None
    if not isinstance(value, dict) or value.get("anchor") != "last_active_at":
        raise InvalidInput("expires_after.anchor must be 'last_active_at'.", param=f"{param}.anchor")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise InvalidInput("expires_after.days must be an integer from 1 to 365.", param=f"{param}.days")
    return {"anchor": "last_active_at", "days": days}


def _files_of_project(project: Project, file_ids: Any, *, param: str) -> list[File]:
    if file_ids is None:
        return []
    if not isinstance(file_ids, list) or not all(isinstance(i, str) for i in file_ids):
        raise InvalidInput(f"{param} must be a list of file ids.", param=param)
    if len(file_ids) > MAX_FILES_PER_CALL:
        raise InvalidInput(f"At most {MAX_FILES_PER_CALL} files at a time.", param=param)
    found = {f.id: f for f in File.objects.filter(project=project, pk__in=file_ids)}
    for index, file_id in enumerate(file_ids):
        if file_id not in found:
            raise InvalidInput(f"No file '{file_id}' in this project.", param=f"{param}[{index}]")
    return [found[i] for i in dict.fromkeys(file_ids)]


def vector_store_ids_check(project_id: int | None, tool_resources: Any, *, param: str = "tool_resources") -> None:
    """Every vector store ``tool_resources.file_search`` names must be a live store of the project."""
    if not isinstance(tool_resources, dict):
        return
    search = tool_resources.get("file_search")
    if search is None:
        return
    where = f"{param}.file_search.vector_store_ids"
    ids = search.get("vector_store_ids", []) if isinstance(search, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidInput("file_search.vector_store_ids must be a list of vector store ids.", param=where)
    if isinstance(search, dict) and search.get("vector_stores"):
        raise InvalidInput(
            "file_search.vector_stores (stores built from data sources) needs Azure storage; create the store "
            "with /vector_stores and name it in vector_store_ids.",
            param=f"{param}.file_search.vector_stores",
            code="unsupported_feature",
        )
    live = set(
        VectorStore.objects.filter(project_id=project_id, pk__in=ids, expired=False).values_list("id", flat=True)
    )
    for index, store_id in enumerate(ids):
        if store_id not in live:
            raise InvalidInput(
                f"No vector store '{store_id}' in this project (or it expired).", param=f"{where}[{index}]"
            )


# --- stores -------------------------------------------------------------------------------------------------


def vector_store_create(
    *,
    project: Project,
    name: Any = None,
    file_ids: Any = None,
    expires_after: Any = None,
    chunking_strategy: Any = None,
    metadata: Any = None,
    actor: Actor = None,
    actor_label: str = "",
) -> VectorStore:
    """A new store; its files are indexed by workers once it is saved."""
    name = validation.validate_name(name, param="name")
    expiry = expires_after_clean(expires_after)
    chunking = chunking_clean(chunking_strategy)
    metadata = validation.validate_metadata(metadata)
    files = _files_of_project(project, file_ids, param="file_ids")
    now = timezone.now()
    with transaction.atomic():
        store = VectorStore.objects.create(
            project=project, name=name, metadata=metadata, expires_after=expiry, chunking_strategy=chunking,
            expires_at=_expiry(expiry, now), last_active_at=now, **_embeddings_for(project.pk),
        )  # fmt: skip
        _files_add(store, files, chunking=chunking, batch=None)
        audit_record(
            action="vector_store.create", actor=actor, actor_label=actor_label, object_type="vector_store",
            object_id=store.id, project_id=project.pk, after={"name": name, "files": len(files)},
        )  # fmt: skip
    return store


def vector_store_update(
    *, store: VectorStore, actor: Actor = None, actor_label: str = "", **fields: Any
) -> VectorStore:
    """Change the name, expiry or metadata (only the fields given)."""
    changes: dict[str, Any] = {}
    if "name" in fields:
        changes["name"] = validation.validate_name(fields["name"], param="name")
    if "metadata" in fields:
        changes["metadata"] = validation.validate_metadata(fields["metadata"])
    if "expires_after" in fields:
        changes["expires_after"] = expires_after_clean(fields["expires_after"])
        changes["expires_at"] = _expiry(changes["expires_after"], store.last_active_at)
    if changes:
        with transaction.atomic():
            VectorStore.objects.filter(pk=store.pk).update(**changes)
            audit_record(
                action="vector_store.update", actor=actor, actor_label=actor_label, object_type="vector_store",
                object_id=store.id, project_id=store.project_id,
                after={k: v for k, v in changes.items() if k != "expires_at"},
            )  # fmt: skip
        store.refresh_from_db()
    return store


def vector_store_delete(*, store: VectorStore, actor: Actor = None, actor_label: str = "") -> None:
    """Delete a store, its file entries and its index (the files themselves stay)."""
    size = store_size(store)
    with transaction.atomic():
        audit_record(
            action="vector_store.delete", actor=actor, actor_label=actor_label, object_type="vector_store",
            object_id=store.id, project_id=store.project_id,
            before={"name": store.name, "files": size.files, "chunks": size.chunks, "text_bytes": size.text_bytes},
        )  # fmt: skip
        VectorStoreChunk.objects.filter(vector_store=store).delete()
        store.delete()


def vector_store_touch(store_ids: list[str], *, now: datetime | None = None) -> None:
    """The stores were searched: they are active, and their expiry moves on (an expired store stays expired)."""
    now = now or timezone.now()
    for store in VectorStore.objects.filter(pk__in=store_ids, expired=False).only("id", "expires_after"):
        VectorStore.objects.filter(pk=store.pk).update(last_active_at=now, expires_at=_expiry(store.expires_after, now))


# The expiry sweep's actor in the audit log.
EXPIRY_ACTOR = "vector-store-expiry"
# Stores handled per sweep (the beat runs it every 10 minutes; a backlog drains over several sweeps).
EXPIRY_BATCH = 500


def vector_stores_expire(*, now: datetime | None = None) -> int:
    """The service's ``expires_after``: a store idle past ``expires_at`` expires (its index is deleted, file search
    leaves it out, the API shows ``expired``); ``VECTOR_STORE_EXPIRED_KEEP_DAYS`` later it is deleted. Each step
    writes one audit record per store, with what it removed. Returns how many stores expired."""
    now = now or timezone.now()
    expired = 0
    due = VectorStore.objects.filter(expired=False, expires_at__lte=now).values_list("id", flat=True)
    for store_id in list(due[:EXPIRY_BATCH]):
        with transaction.atomic():
            store = VectorStore.objects.select_for_update().filter(pk=store_id, expired=False).first()
            if store is None:
                continue  # searched, deleted or expired by another sweep meanwhile
            size = store_size(store)
            VectorStore.objects.filter(pk=store_id).update(expired=True, index_version=F("index_version") + 1)
            VectorStoreChunk.objects.filter(vector_store_id=store_id).delete()
            VectorStoreFile.objects.filter(vector_store_id=store_id).update(chunk_count=0)
            audit_record(
                action="vector_store.expire", actor_label=EXPIRY_ACTOR, object_type="vector_store",
                object_id=store_id, project_id=store.project_id,
                before={"name": store.name, "files": size.files, "chunks": size.chunks, "text_bytes": size.text_bytes,
                        "expires_at": store.expires_at.isoformat() if store.expires_at else None},
                after={"status": "expired"},
            )  # fmt: skip
            expired += 1
    deleted = _expired_stores_delete(now - timedelta(days=settings.VECTOR_STORE_EXPIRED_KEEP_DAYS))
    if expired or deleted:
        logger.info("expired %d vector stores, deleted %d expired ones", expired, deleted)
    chunk_stats_refresh()
    return expired


# ANALYZE the chunk table when this share of its rows changed since the last one (autovacuum's default).
CHUNK_STATS_STALE_SHARE = 0.1


def chunk_stats_refresh(*, force: bool = False) -> bool:
    """PostgreSQL: refresh the chunk table's statistics when a tenth of it changed since they were taken, as
    autovacuum would (a server running without it included). The full-text search reads them to match on the
    question's rarer words (selectors.vector_stores._match_lexemes). True when it ran ANALYZE."""
    if connection.vendor != "postgresql":
        return False
    table = VectorStoreChunk._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables WHERE relid = to_regclass(%s)", [table]
        )
        row = cursor.fetchone()
        if row is None:
            return False
        changed, live = row
        if not force and changed <= max(live, 1) * CHUNK_STATS_STALE_SHARE + 50:
            return False
        cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return True


def _expired_stores_delete(cutoff: datetime) -> int:
    """Delete stores expired before ``cutoff`` (their chunks already went when they expired)."""
    deleted = 0
    for store in list(VectorStore.objects.filter(expired=True, expires_at__lte=cutoff)[:EXPIRY_BATCH]):
        vector_store_delete(store=store, actor_label=EXPIRY_ACTOR)
        deleted += 1
    return deleted


def _embeddings_for(project_id: int) -> dict[str, Any]:
    """The embeddings a new store of the project is indexed with (none: full text alone)."""
    connection = embeddings_connection_for(project_id=project_id)
    if connection is None:
        return {}
    return {"embedding_connection": connection, "embedding_model": connection.embeddings_deployment}


def _expiry(expires_after: dict[str, Any] | None, anchor: datetime) -> datetime | None:
    return anchor + timedelta(days=expires_after["days"]) if expires_after else None


# --- a thread's own store (message attachments) -----------------------------------------------------------

# A thread's store made for its attachments expires after this many idle days, as the service's does.
THREAD_STORE_DAYS = 7


def attachment_search_files(attachments: Any) -> list[str]:
    """The files of message attachments given the ``file_search`` tool."""
    found = []
    for item in attachments or []:
        tools = item.get("tools") if isinstance(item, dict) else None
        searched = isinstance(tools, list) and any(
            isinstance(t, dict) and t.get("type") == "file_search" for t in tools
        )
        if searched and isinstance(item.get("file_id"), str):
            found.append(item["file_id"])
    return found


def thread_store_attach(*, thread: Thread, file_ids: list[str]) -> VectorStore | None:
    """Index attached files in the thread's own vector store (made on first use and named in the thread's
    ``tool_resources``), so the thread's runs search them. Callers hold the transaction."""
    if not file_ids:
        return None
    files = list(File.objects.filter(project_id=thread.project_id, pk__in=file_ids))
    store = VectorStore.objects.filter(
        project_id=thread.project_id, metadata__thread_id=thread.id, expired=False
    ).first()
    if store is None:
        now = timezone.now()
        expiry = {"anchor": "last_active_at", "days": THREAD_STORE_DAYS}
        store = VectorStore.objects.create(
            project_id=thread.project_id, name=f"Attachments of {thread.id}", metadata={"thread_id": thread.id},
            expires_after=expiry, expires_at=_expiry(expiry, now), chunking_strategy=AUTO_CHUNKING,
            **_embeddings_for(thread.project_id),
        )  # fmt: skip
        resources = dict(thread.tool_resources or {})
        search = dict(resources.get("file_search") or {})
        search["vector_store_ids"] = [*(search.get("vector_store_ids") or []), store.id]
        resources["file_search"] = search
        Thread.objects.filter(pk=thread.pk).update(tool_resources=resources)
        thread.tool_resources = resources
    _files_add(store, files, chunking=AUTO_CHUNKING, batch=None)
    return store


def stores_ready(store_ids: list[str]) -> bool:
    """No file of these stores is still being indexed."""
    return not VectorStoreFile.objects.filter(
        vector_store_id__in=store_ids, status=VectorStoreFile.Status.IN_PROGRESS
    ).exists()


# --- files -----------------------------------------------------------------------------------------------


def vector_store_file_add(
    *, store: VectorStore, file_id: Any, chunking_strategy: Any = None, actor_label: str = ""
) -> VectorStoreFile:
    """Add one file of the project to the store (again: re-index it)."""
    if not isinstance(file_id, str) or not file_id:
        raise InvalidInput("file_id is required.", param="file_id")
    [file] = _files_of_project(store.project, [file_id], param="file_id")
    chunking = chunking_clean(chunking_strategy, default=store.chunking_strategy or None)
    with transaction.atomic():
        [entry] = _files_add(store, [file], chunking=chunking, batch=None)
    return entry


def file_batch_create(
    *, store: VectorStore, file_ids: Any, chunking_strategy: Any = None, actor_label: str = ""
) -> VectorStoreFileBatch:
    files = _files_of_project(store.project, file_ids, param="file_ids")
    if not files:
        raise InvalidInput("file_ids must name at least one file.", param="file_ids")
    chunking = chunking_clean(chunking_strategy, default=store.chunking_strategy or None)
    with transaction.atomic():
        batch = VectorStoreFileBatch.objects.create(vector_store=store)
        _files_add(store, files, chunking=chunking, batch=batch)
    return batch


def file_batch_cancel(*, batch: VectorStoreFileBatch) -> VectorStoreFileBatch:
    """Files of the batch not indexed yet are cancelled; those already indexed stay."""
    with transaction.atomic():
        VectorStoreFile.objects.filter(batch=batch, status=VectorStoreFile.Status.IN_PROGRESS).update(
            status=VectorStoreFile.Status.CANCELLED
        )
        VectorStoreFileBatch.objects.filter(pk=batch.pk, status=VectorStoreFileBatch.Status.IN_PROGRESS).update(
            status=VectorStoreFileBatch.Status.CANCELLED
        )
    batch.refresh_from_db()
    return batch


def vector_store_file_remove(*, entry: VectorStoreFile) -> None:
    """Take a file out of the store (its chunks with it); the file itself stays."""
    with transaction.atomic():
        entry.delete()
        _index_changed(entry.vector_store_id)


def _files_add(
    store: VectorStore, files: list[File], *, chunking: dict[str, Any], batch: VectorStoreFileBatch | None
) -> list[VectorStoreFile]:
    entries = []
    for file in files:
        entry, _ = VectorStoreFile.objects.update_or_create(
            vector_store=store,
            file=file,
            defaults={"status": VectorStoreFile.Status.IN_PROGRESS, "last_error": None, "chunking_strategy": chunking,
                      "batch": batch},
        )  # fmt: skip
        entries.append(entry)
        task_send(VECTOR_STORE_FILE_INDEX, entry.pk)
    return entries


def vector_store_file_index(*, entry_id: int) -> None:
    """Index one file of a store: its text in chunks, replacing any it had. Bad files fail with a reason; nothing
    a file holds crashes the worker."""
    entry = VectorStoreFile.objects.select_related("file").filter(pk=entry_id).first()
    if entry is None or entry.status != VectorStoreFile.Status.IN_PROGRESS:
        return
    static = (entry.chunking_strategy or AUTO_CHUNKING).get("static") or AUTO_CHUNKING["static"]
    try:
        with entry.file.content.open("rb") as handle:
            data = handle.read()
        text = document_text(entry.file.filename, data)[:MAX_TEXT_CHARS]
        chunks = text_chunks(
            text, max_tokens=static["max_chunk_size_tokens"], overlap_tokens=static["chunk_overlap_tokens"]
        )
        if not chunks:
            raise UnreadableDocument(f"'{entry.file.filename}' has no text to search.")
    except UnsupportedDocument as exc:
        _index_failed(entry, "unsupported_file", str(exc))
        return
    except (UnreadableDocument, OSError) as exc:
        _index_failed(entry, "invalid_file", str(exc))
        return
    except Exception:
        logger.exception("indexing %s of %s failed", entry.file_id, entry.vector_store_id)
        _index_failed(entry, "server_error", "The file could not be indexed because of an internal error.")
        return
    try:
        vectors = _chunk_vectors(entry.vector_store_id, chunks)
    except ProviderError as exc:
        _index_failed(entry, "embedding_failed", f"The embeddings model could not embed the file: {exc.message}")
        return
    with transaction.atomic():
        if not VectorStoreFile.objects.filter(pk=entry.pk, status=VectorStoreFile.Status.IN_PROGRESS).exists():
            return  # cancelled or removed meanwhile
        VectorStoreChunk.objects.filter(store_file=entry).delete()
        VectorStoreChunk.objects.bulk_create(
            [
                VectorStoreChunk(vector_store_id=entry.vector_store_id, store_file=entry, file_id=entry.file_id,
                                 seq=seq, text=piece, embedding=vector)
                for seq, (piece, vector) in enumerate(zip(chunks, vectors, strict=True))
            ],
            batch_size=500,
        )  # fmt: skip
        _index_changed(entry.vector_store_id)
        VectorStoreFile.objects.filter(pk=entry.pk).update(
            status=VectorStoreFile.Status.COMPLETED,
            usage_bytes=len(text.encode()),
            chunk_count=len(chunks),
            last_error=None,
        )
        _batch_settle(entry.batch_id)


def _chunk_vectors(store_id: str, chunks: list[str]) -> list[bytes | None]:
    """The chunks' embeddings as stored bytes, ``EMBEDDING_BATCH`` texts a call (None each: the store has none).
    Raises ProviderError when a call fails."""
    store = VectorStore.objects.select_related("embedding_connection").get(pk=store_id)
    if store.embedding_connection is None or not store.embedding_model:
        return [None] * len(chunks)
    embedder = embedder_from_connection(store.embedding_connection, model=store.embedding_model)
    vectors: list[bytes | None] = []
    for start in range(0, len(chunks), EMBEDDING_BATCH):
        vectors.extend(vector_bytes(v) for v in embedder.embed(chunks[start : start + EMBEDDING_BATCH]))
    return vectors


def _index_changed(store_id: str) -> None:
    VectorStore.objects.filter(pk=store_id).update(index_version=F("index_version") + 1)


def _index_failed(entry: VectorStoreFile, code: str, message: str) -> None:
    with transaction.atomic():
        VectorStoreFile.objects.filter(pk=entry.pk, status=VectorStoreFile.Status.IN_PROGRESS).update(
            status=VectorStoreFile.Status.FAILED, last_error={"code": code, "message": message[:500]}
        )
        _batch_settle(entry.batch_id)


def _batch_settle(batch_id: str | None) -> None:
    """A batch is completed once none of its files is still being indexed."""
    if batch_id is None:
        return
    if not VectorStoreFile.objects.filter(batch_id=batch_id, status=VectorStoreFile.Status.IN_PROGRESS).exists():
        VectorStoreFileBatch.objects.filter(pk=batch_id, status=VectorStoreFileBatch.Status.IN_PROGRESS).update(
            status=VectorStoreFileBatch.Status.COMPLETED
        )


# --- search ------------------------------------------------------------------------------------------------

# Candidates each ranking gives to the fusion: enough that a chunk ranked well by only one of them still places.
FUSION_CANDIDATES = 50


def chunks_retrieve(*, store_ids: list[str], query: str, limit: int, score_threshold: float = 0.0) -> list[ChunkHit]:
    """The ``limit`` chunks of these stores that best answer ``query``, best first, scored 0-1 (best 1).

    Stores with embeddings: the vector ranking and the full-text ranking fused by reciprocal rank; stores without,
    or when the query cannot be embedded (the endpoint is down: logged, the search still answers): full text."""
    stores = list(
        VectorStore.objects.filter(pk__in=store_ids, embedding_connection__isnull=False)
        .exclude(embedding_model="")
        .select_related("embedding_connection")
    )
    if not stores or limit < 1:
        return chunks_search(store_ids=store_ids, query=query, limit=limit, score_threshold=score_threshold)
    candidates = max(limit, FUSION_CANDIDATES)
    text_hits = chunks_search(store_ids=store_ids, query=query, limit=candidates)
    try:
        nearest = _vector_ranking(stores, query, candidates)
    except ProviderError as exc:
        logger.warning("file search fell back to full text: the query could not be embedded (%s)", exc.message)
        return [hit for hit in text_hits[:limit] if hit.score >= score_threshold]
    fused = rank_fusion([hit.chunk_id for hit in text_hits], nearest)[:limit]
    if not fused:
        return []
    best = fused[0][1]
    scores = {chunk_id: score / best for chunk_id, score in fused}
    return [hit for hit in chunks_by_id([i for i, _ in fused], scores) if hit.score >= score_threshold]


def _vector_ranking(stores: list[VectorStore], query: str, limit: int) -> list[int]:
    """Chunk ids of these stores by cosine similarity to the query, best first; one embeddings call per model."""
    query_vectors: dict[tuple[int, str], list[float]] = {}
    scored: list[tuple[float, int]] = []
    for store in stores:
        connection: ModelConnection = store.embedding_connection  # type: ignore[assignment]
        key = (connection.pk, store.embedding_model)
        if key not in query_vectors:
            [query_vectors[key]] = embedder_from_connection(connection, model=store.embedding_model).embed([query])
        matrix = store_vectors(store.id, store.index_version)
        scored.extend((score, chunk_id) for chunk_id, score in matrix.nearest(query_vectors[key], limit))
    return [chunk_id for _, chunk_id in sorted(scored, key=lambda pair: -pair[0])[:limit]]
