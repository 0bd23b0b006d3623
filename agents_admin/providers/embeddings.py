"""Embeddings over httpx, for file search: Azure OpenAI deployments and OpenAI-compatible ``/embeddings``.

Framework-free, like the chat provider beside it, whose pooled client and error mapping it shares: 429/5xx and
timeouts are transient, the rest permanent, each a ProviderError with a code and a readable message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import httpx

from agents_admin.providers.base import PermanentProviderError
from agents_admin.providers.chat_completions import (
    CONNECT_TIMEOUT,
    POOL_TIMEOUT,
    WRITE_TIMEOUT,
    Auth,
    _raise_for_status,
    http_client,
    transport_error,
)

# Texts per call: the service's limit is 2,048 inputs; smaller calls keep a slow local server's answer timely.
EMBEDDING_BATCH = 64


@dataclass(frozen=True)
class EmbeddingsProvider:
    """One embeddings model. ``url`` is the full ``…/embeddings`` URL; ``model`` is sent in the body (None for
    Azure, where the deployment in the URL decides)."""

    url: str
    auth: Auth
    model: str | None = None
    read_timeout: float = 120.0
    params: dict[str, str] = field(default_factory=dict)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order, each scaled to unit length (so a dot product is the cosine)."""
        if not texts:
            return []
        body: dict[str, Any] = {"input": texts}
        if self.model:
            body["model"] = self.model
        timeout = httpx.Timeout(self.read_timeout, connect=CONNECT_TIMEOUT, write=WRITE_TIMEOUT, pool=POOL_TIMEOUT)
        headers = {"Content-Type": "application/json", **self.auth.headers()}
        try:
            response = http_client().post(self.url, params=self.params, json=body, headers=headers, timeout=timeout)
        except httpx.TransportError as exc:
            raise transport_error(exc, endpoint="embeddings endpoint") from exc
        _raise_for_status(response)
        return _vectors(response, expected=len(texts))


def _vectors(response: httpx.Response, *, expected: int) -> list[list[float]]:
    try:
        items = sorted(response.json()["data"], key=lambda item: item.get("index", 0))
        vectors = [[float(x) for x in item["embedding"]] for item in items]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PermanentProviderError(
            "malformed_response", f"The embeddings endpoint sent a response that is not a list of embeddings: {exc!r}"
        ) from exc
    if len(vectors) != expected:
        raise PermanentProviderError(
            "malformed_response", f"The embeddings endpoint sent {len(vectors)} embeddings for {expected} texts."
        )
    if not vectors[0] or any(len(v) != len(vectors[0]) for v in vectors):
        raise PermanentProviderError("malformed_response", "The embeddings endpoint sent vectors of mixed sizes.")
    return [_unit(v) for v in vectors]


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    if not math.isfinite(norm):
        raise PermanentProviderError("malformed_response", "The embeddings endpoint sent a vector that is not finite.")
    return [x / norm for x in vector] if norm else vector
