"""Vector stores for the ``file_search`` tool: a store, the files in it, batches of files, and the chunks indexed.

Each store's chunks are its own index: searches are always within a set of stores. Full text is searched with
SQL the ORM does not express, one plan per database (migration ``vector_store_search_sql``): an external-content
FTS5 table ranked by bm25 on SQLite, a stored generated tsvector column with a GIN index ranked by ts_rank on
PostgreSQL.

When a model connection serves embeddings, a store records it (and the model) when it is created: its chunks are
embedded as they are indexed, stored portably as float32 bytes, and searched by cosine similarity in memory
(selectors/vector_stores.py), fused with the full-text rank.
"""

from __future__ import annotations

from django.db import models

from agents_admin import ids


class VectorStore(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        EXPIRED = "expired"

    id = models.CharField(primary_key=True, max_length=40, default=ids.new_vector_store_id, editable=False)
    project = models.ForeignKey("Project", on_delete=models.CASCADE, related_name="vector_stores")
    name = models.CharField(max_length=256, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # {"anchor": "last_active_at", "days": n}: the store expires n days after it was last used.
    expires_after = models.JSONField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # The chunking new files get when they name none: {"type": "static", "static": {...}}.
    chunking_strategy = models.JSONField(default=dict, blank=True)
    expired = models.BooleanField(default=False)
    # Embeddings for hybrid search, chosen when the store is made; None: full text alone.
    embedding_connection = models.ForeignKey(
        "ModelConnection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    embedding_model = models.CharField(max_length=256, blank=True)
    # Bumped whenever the store's chunks change, so a process's in-memory vectors of the store are reloaded.
    index_version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_active_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="vstore_project_created"),
            models.Index(fields=["expires_at"], name="vstore_expires", condition=models.Q(expired=False)),
        ]

    def __str__(self) -> str:
        return self.name or self.id


class VectorStoreFileBatch(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, default=ids.new_file_batch_id, editable=False)
    vector_store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="batches")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.id


class VectorStoreFile(models.Model):
    """A file in a store. Its API id is the file's id; ``status`` follows its indexing."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    vector_store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="files")
    file = models.ForeignKey("File", on_delete=models.CASCADE, related_name="vector_store_files")
    batch = models.ForeignKey(
        VectorStoreFileBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="files"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    last_error = models.JSONField(null=True, blank=True)
    chunking_strategy = models.JSONField(default=dict)
    # Bytes of extracted text indexed, and how many chunks it made.
    usage_bytes = models.PositiveBigIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["vector_store", "file"], name="vstorefile_unique")]
        indexes = [models.Index(fields=["vector_store", "status"], name="vstorefile_store_status")]

    def __str__(self) -> str:
        return f"{self.vector_store_id}:{self.file_id}"


class VectorStoreChunk(models.Model):
    """A piece of a file's text, the unit the search ranks and the model is given."""

    vector_store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="+")
    store_file = models.ForeignKey(VectorStoreFile, on_delete=models.CASCADE, related_name="chunks")
    file_id = models.CharField(max_length=40)
    seq = models.PositiveIntegerField()
    text = models.TextField()
    # The chunk's embedding, unit length, little-endian float32; None when its store has no embeddings.
    embedding = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["store_file", "seq"]
        indexes = [models.Index(fields=["store_file", "seq"], name="vstorechunk_file_seq")]

    def __str__(self) -> str:
        return f"{self.file_id}#{self.seq}"
