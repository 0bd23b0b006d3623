"""Reads for vector stores: ranked full-text search over their chunks, and what the console shows of a store.

Ranking is by relevance, over the chunks of the given stores only. SQLite: the FTS5 table (porter stemming)
ranked by ``bm25``. PostgreSQL: the stored ``to_tsvector('english', text)`` column (GIN index) ranked by
``ts_rank_cd``. The question's words are OR-ed, so a chunk that holds some of them still matches and the
ranking decides; scores are scaled so the best chunk of a search scores 1.

On PostgreSQL the chunks ranked are those holding the question's rarest words (by the column's statistics, see
``_match_lexemes``): ranking every chunk that holds a word most chunks have was nearly all of a query's time at
100k chunks, and such a word decides no ranking (``ts_rank_cd`` has no inverse document frequency).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum

from agents_admin.lib.vectors import MatrixCache, VectorMatrix, matrix_from_rows
from agents_admin.models import Agent, File, VectorStore, VectorStoreChunk, VectorStoreFile

MAX_QUERY_TERMS = 32
# Words every chunk has: matching on them costs a walk over most of the index and ranks nothing (PostgreSQL's
# English configuration drops the same kind of words itself).
_STOP_WORDS = """
a an and are as at be by can do does for from had has have how i if in into is it its may me my of on or our
should so than that the their them then there these they this to was we were what when where which who why
will with would you your
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: int
    file_id: str
    file_name: str
    text: str
    score: float


def chunks_search(*, store_ids: list[str], query: str, limit: int, score_threshold: float = 0.0) -> list[ChunkHit]:
    """The ``limit`` chunks of these stores that best match ``query``, best first."""
    words = [w.lower() for w in _WORD.findall(query)]
    terms = list(dict.fromkeys(w for w in words if w not in STOP_WORDS) or dict.fromkeys(words))[:MAX_QUERY_TERMS]
    if not terms or not store_ids or limit < 1:
        return []
    if connection.vendor == "postgresql":
        rows = _search_postgresql(store_ids, terms, limit)
    else:
        rows = _search_sqlite(store_ids, terms, limit)
    if not rows:
        return []
    best = max(score for *_, score in rows) or 1.0
    names = dict(File.objects.filter(pk__in={file_id for _, file_id, _, _ in rows}).values_list("id", "filename"))
    hits = [
        ChunkHit(chunk_id, file_id, names.get(file_id, file_id), text, round(score / best, 4))
        for chunk_id, file_id, text, score in rows
    ]
    return [hit for hit in hits if hit.score >= score_threshold]


def _search_sqlite(store_ids: list[str], terms: list[str], limit: int) -> list[tuple[int, str, str, float]]:
    match = " OR ".join('"' + term.replace('"', "") + '"' for term in terms)
    marks = ", ".join(["%s"] * len(store_ids))
    sql = f"""
        SELECT c.id, c.file_id, c.text, -bm25(agents_admin_vectorstorechunk_fts) AS score
        FROM agents_admin_vectorstorechunk_fts
        JOIN agents_admin_vectorstorechunk c ON c.id = agents_admin_vectorstorechunk_fts.rowid
        WHERE agents_admin_vectorstorechunk_fts MATCH %s AND c.vector_store_id IN ({marks})
        ORDER BY bm25(agents_admin_vectorstorechunk_fts) LIMIT %s"""  # noqa: S608 - placeholders only
    with connection.cursor() as cursor:
        cursor.execute(sql, [match, *store_ids, limit])
        return [(row[0], row[1], row[2], float(row[3])) for row in cursor.fetchall()]


# PostgreSQL: about how many chunks a search ranks at most, by the statistics (see _match_lexemes).
MATCH_BUDGET_ROWS = 2000
# How long a process keeps the chunk column's statistics (ANALYZE, by autovacuum, refreshes them).
STATS_TTL_SECONDS = 600
_lexeme_stats: dict[str, Any] = {"at": -STATS_TTL_SECONDS, "freqs": {}, "rows": 0.0}


def _search_postgresql(store_ids: list[str], terms: list[str], limit: int) -> list[tuple[int, str, str, float]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english', t))) FROM unnest(%s::text[]) t",
            [terms],
        )
        lexemes = sorted(row[0] for row in cursor.fetchall())
        if not lexemes:
            return []
        # Matched on the rarest words, ranked on all of them.
        sql = """
            SELECT c.id, c.file_id, c.text, ts_rank_cd(c.search_vector, %s::tsquery) AS score
            FROM agents_admin_vectorstorechunk c
            WHERE c.vector_store_id = ANY(%s) AND c.search_vector @@ %s::tsquery
            ORDER BY score DESC, c.id LIMIT %s"""
        ranked, matched = _tsquery(lexemes), _tsquery(_match_lexemes(lexemes))
        cursor.execute(sql, [ranked, list(store_ids), matched, limit])
        return [(row[0], row[1], row[2], float(row[3])) for row in cursor.fetchall()]


def _tsquery(lexemes: list[str]) -> str:
    """Lexemes (already normalised) OR-ed, quoted as tsquery input takes them."""
    return " | ".join("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)


def _match_lexemes(lexemes: list[str]) -> list[str]:
    """The query's lexemes a chunk must hold one of to be ranked: the rarest first, while the chunks they are
    expected to match (PostgreSQL's element frequencies for the column, times its rows) stay within
    MATCH_BUDGET_ROWS, and always the rarest. A word held by most chunks (its frequency is in the statistics)
    then only ranks; a word too rare to have a frequency counts as matching nothing. Without statistics (a
    table never analysed) every lexeme matches, as before."""
    freqs, rows = _column_stats()
    if not freqs:
        return lexemes
    chosen: list[str] = []
    expected = 0.0
    for lexeme in sorted(lexemes, key=lambda lex: (freqs.get(lex, 0.0), lex)):
        more = freqs.get(lexeme, 0.0) * rows
        if chosen and expected + more > MATCH_BUDGET_ROWS:
            break
        chosen.append(lexeme)
        expected += more
    return chosen


def _column_stats() -> tuple[dict[str, float], float]:
    """The search column's most common lexemes with the share of rows holding each, and the table's rows, from
    pg_stats (kept for STATS_TTL_SECONDS in this process: one cheap catalogue read now and then)."""
    now = time.monotonic()
    if now - _lexeme_stats["at"] < STATS_TTL_SECONDS:
        return _lexeme_stats["freqs"], _lexeme_stats["rows"]
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples
            FROM pg_stats s JOIN pg_class c ON c.oid = to_regclass(quote_ident(s.schemaname) || '.' || s.tablename)
            WHERE s.schemaname = current_schema() AND s.tablename = 'agents_admin_vectorstorechunk'
              AND s.attname = 'search_vector'"""
        )
        row = cursor.fetchone()
    freqs: dict[str, float] = {}
    rows = 0.0
    if row is not None and row[0] is not None:
        freqs = {lexeme: float(freq) for lexeme, freq in zip(row[0], row[1], strict=False)}
        rows = max(float(row[2] or 0), 0.0)
    _lexeme_stats.update(at=now, freqs=freqs, rows=rows)
    return freqs, rows


def column_stats_forget() -> None:
    """Read the column's statistics afresh on the next search (tests, after an ANALYZE)."""
    _lexeme_stats["at"] = -STATS_TTL_SECONDS


# --- vectors (hybrid search) ------------------------------------------------------------------------------

_matrices = MatrixCache(max_bytes=settings.VECTOR_CACHE_MB * 1024 * 1024)


def store_vectors(store_id: str, index_version: int) -> VectorMatrix:
    """The store's chunk vectors as one matrix, from this process's cache while the store's index is unchanged."""

    def load() -> VectorMatrix:
        rows = (
            VectorStoreChunk.objects.filter(vector_store_id=store_id, embedding__isnull=False)
            .values_list("id", "embedding")
            .iterator(chunk_size=2000)
        )
        return matrix_from_rows(rows)

    return _matrices.get(store_id, index_version, load)


def chunks_by_id(chunk_ids: list[int], scores: dict[int, float]) -> list[ChunkHit]:
    """These chunks as hits scored from ``scores``, in the order of ``chunk_ids`` (two queries)."""
    rows = {
        row[0]: row for row in VectorStoreChunk.objects.filter(pk__in=chunk_ids).values_list("id", "file_id", "text")
    }
    names = dict(File.objects.filter(pk__in={r[1] for r in rows.values()}).values_list("id", "filename"))
    return [
        ChunkHit(i, rows[i][1], names.get(rows[i][1], rows[i][1]), rows[i][2], round(scores[i], 4))
        for i in chunk_ids
        if i in rows
    ]


# --- the console and the API ----------------------------------------------------------------------------


def file_counts(store: VectorStore) -> dict[str, int]:
    """How many of the store's files are in each state, in the API's shape."""
    counts = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0}
    for status, n in VectorStoreFile.objects.filter(vector_store=store).values_list("status").annotate(n=Count("id")):
        counts[status] = n
    counts["total"] = sum(counts.values())
    return counts


def store_status(store: VectorStore, counts: dict[str, int]) -> str:
    if store.expired:
        return "expired"
    return "in_progress" if counts["in_progress"] else "completed"


def store_usage_bytes(store: VectorStore) -> int:
    return VectorStoreFile.objects.filter(vector_store=store).aggregate(total=Sum("usage_bytes"))["total"] or 0


@dataclass(frozen=True)
class StoreSize:
    files: int
    chunks: int
    text_bytes: int


def store_size(store: VectorStore) -> StoreSize:
    """The store's files, chunks and bytes of text indexed (one query over its file entries, not its chunks)."""
    totals = VectorStoreFile.objects.filter(vector_store=store).aggregate(
        files=Count("id"), chunks=Sum("chunk_count"), text=Sum("usage_bytes")
    )
    return StoreSize(files=totals["files"], chunks=totals["chunks"] or 0, text_bytes=totals["text"] or 0)


def stores_overview(limit: int = 500) -> QuerySet[VectorStore]:
    """The newest stores with their file counts and indexed size, one query (stores are few per instance)."""
    return (
        VectorStore.objects.select_related("project")
        .annotate(
            file_total=Count("files"),
            files_indexing=Count("files", filter=Q(files__status=VectorStoreFile.Status.IN_PROGRESS)),
            files_failed=Count("files", filter=Q(files__status=VectorStoreFile.Status.FAILED)),
            bytes_indexed=Sum("files__usage_bytes"),
        )
        .order_by("-created_at", "-id")[:limit]
    )


def agents_using(store: VectorStore) -> list[Agent]:
    """The project's agents whose file_search resources name this store (agents per project are few)."""
    agents = Agent.objects.filter(project_id=store.project_id).only("id", "name", "tool_resources")
    return [a for a in agents if store.id in _store_ids(a.tool_resources)]


def _store_ids(tool_resources: Any) -> list[str]:
    search = (tool_resources or {}).get("file_search") if isinstance(tool_resources, dict) else None
    ids = (search or {}).get("vector_store_ids") if isinstance(search, dict) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
