"""Vectors for hybrid file search, framework-free: their bytes, nearest neighbours, and rank fusion.

Embeddings are stored portably (little-endian float32 bytes on the chunk row) so both databases hold them with no
server extension: neither pgvector nor a SQLite loadable extension can be counted on where this service runs.
Nearest neighbours are an exact scan, one matrix product over a store's vectors held in memory: at 100k chunks of
384 dimensions that is ~150 MB and a few milliseconds a query. Each process keeps the matrices of the stores it
searched last, up to ``VECTOR_CACHE_MB``, keyed by the store's index version so a change is seen at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

# Reciprocal rank fusion's constant: the usual 60 (Cormack et al.), so the top ranks of each list weigh alike.
RRF_K = 60


def vector_bytes(vector: list[float]) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


@dataclass(frozen=True)
class VectorMatrix:
    """A store's chunk ids and their unit vectors, row for row."""

    ids: np.ndarray
    matrix: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.ids.nbytes + self.matrix.nbytes)

    def nearest(self, query: list[float], k: int) -> list[tuple[int, float]]:
        """The ``k`` chunk ids most similar to ``query`` (cosine), best first."""
        if not len(self.ids) or k < 1 or len(query) != self.matrix.shape[1]:
            return []
        scores = self.matrix @ np.asarray(query, dtype=np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top]


def matrix_from_rows(rows: Iterable[tuple[int, bytes]]) -> VectorMatrix:
    """A matrix from ``(chunk id, vector bytes)`` rows; rows of another width than the first are left out."""
    ids: list[int] = []
    blobs: list[bytes] = []
    width = None
    for chunk_id, blob in rows:
        blob = bytes(blob)
        width = width or len(blob)
        if len(blob) == width:
            ids.append(chunk_id)
            blobs.append(blob)
    dims = (width or 4) // 4
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), dims).astype(np.float32, copy=False)
    return VectorMatrix(ids=np.asarray(ids, dtype=np.int64), matrix=matrix)


class MatrixCache:
    """The least recently used store matrices, up to ``max_bytes`` in all (one larger matrix is still used, just
    not kept). Thread-safe; a load happens outside the lock, so two threads may load the same store once each."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[int, VectorMatrix]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, version: int, load: Callable[[], VectorMatrix]) -> VectorMatrix:
        with self._lock:
            held = self._items.get(key)
            if held is not None and held[0] == version:
                self._items.move_to_end(key)
                return held[1]
        matrix = load()
        with self._lock:
            self._items.pop(key, None)
            if matrix.nbytes <= self.max_bytes:
                self._items[key] = (version, matrix)
                while sum(m.nbytes for _, m in self._items.values()) > self.max_bytes:
                    self._items.popitem(last=False)
        return matrix


def rank_fusion(*rankings: list[int], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of best-first id lists: each id scores the sum of 1 / (k + rank) over the lists
    holding it; best first, ties by first appearance."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
