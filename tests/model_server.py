"""A real HTTP server on 127.0.0.1 that speaks chat completions (JSON and SSE) and embeddings, scripted per test.

Each POST takes the next scripted behaviour (or answers "Hello from the fake model" when the script is
empty) and is recorded, so tests can assert on the exact URL, headers and body the provider sent. A request
with ``"stream": true`` gets the same behaviour as server-sent events.

A POST to ``…/embeddings`` answers with ``fake_embedding`` of each input (deterministic: words, and a few
synonyms, hashed into 256 dimensions), or with the next of ``embeddings_script`` when a test scripted a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


@dataclass
class Behaviour:
    kind: str  # answer | tools | error | hang | raw
    text: str = ""
    calls: list[tuple[str, str]] = field(default_factory=list)
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    finish: str = "stop"
    usage: dict[str, int] | None = field(default_factory=lambda: dict(USAGE))
    # Streaming only: after this many content chunks, wait until the gate is set (the test saw partial text).
    gate: threading.Event | None = None
    gate_after: int = 1


def answer(text: str, **kw: Any) -> Behaviour:
    return Behaviour("answer", text=text, **kw)


def tool_calls(*calls: tuple[str, str], **kw: Any) -> Behaviour:
    return Behaviour("tools", calls=list(calls), finish="tool_calls", **kw)


def error(status: int, message: str = "", code: str = "", headers: dict[str, str] | None = None) -> Behaviour:
    body = {"error": {"message": message or f"error {status}", "code": code or None, "type": "invalid_request"}}
    return Behaviour("error", status=status, body=body, headers=headers or {})


def hang(seconds: float) -> Behaviour:
    return Behaviour("hang", seconds=seconds)


def raw(body: bytes, status: int = 200, content_type: str = "application/json") -> Behaviour:
    return Behaviour("raw", body=body, status=status, headers={"Content-Type": content_type})


# Words the fake embeddings put in one place, so a question can find a chunk that shares no word with it (what a
# real embeddings model does for meaning).
SYNONYMS = {"automobile": "car", "vehicle": "car", "cars": "car", "lodging": "hotel", "accommodation": "hotel",
            "hotels": "hotel", "espresso": "coffee", "cleaned": "descaled"}  # fmt: skip
EMBEDDING_DIMENSIONS = 256
STOP_WORDS = frozenset(
    [
        "the",
        "and",
        "are",
        "for",
        "how",
        "what",
        "where",
        "when",
        "who",
        "with",
        "which",
        "does",
        "from",
        "this",
        "that",
        "your",
        "into",
    ]
)


def fake_embedding(text: str) -> list[float]:
    """A unit vector of the text's words (synonyms merged), each hashed to one of 256 dimensions."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in re.findall(r"\w+", text.lower()):
        word = SYNONYMS.get(word, word)
        if len(word) > 2 and word not in STOP_WORDS:
            vector[int(hashlib.sha1(word.encode()).hexdigest(), 16) % EMBEDDING_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeModelServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: deque[Behaviour] = deque()
        self.embeddings_script: deque[Behaviour] = deque()
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, *behaviours: Behaviour) -> None:
        with self.lock:
            self.script.extend(behaviours)

    def next(self) -> Behaviour:
        with self.lock:
            return self.script.popleft() if self.script else answer("Hello from the fake model")


class _Handler(BaseHTTPRequestHandler):
    server: FakeModelServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            self.server.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        # The client may have given up (a timeout test).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if self.path.split("?")[0].endswith("/embeddings"):
                self._embeddings(body)
                return
            self._respond(self.server.next(), stream=bool(body.get("stream")))

    def _embeddings(self, body: dict[str, Any]) -> None:
        with self.server.lock:
            scripted = self.server.embeddings_script.popleft() if self.server.embeddings_script else None
        if scripted is not None:
            self._respond(scripted, stream=False)
            return
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [{"object": "embedding", "index": i, "embedding": fake_embedding(t)} for i, t in enumerate(texts)]
        self._json({"object": "list", "data": data, "model": body.get("model"), "usage": {"prompt_tokens": 1}})

    def _respond(self, b: Behaviour, *, stream: bool) -> None:
        if b.kind == "hang":
            time.sleep(b.seconds)
            b = answer("too late")
        if b.kind in ("error", "raw"):
            payload = b.body if isinstance(b.body, bytes) else json.dumps(b.body).encode()
            self.send_response(b.status)
            self.send_header("Content-Type", b.headers.pop("Content-Type", "application/json"))
            for name, value in b.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if stream:
            self._stream(b)
            return
        message: dict[str, Any] = {"role": "assistant", "content": b.text or None}
        if b.kind == "tools":
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}
                for i, (name, args) in enumerate(b.calls)
            ]
        data: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": b.finish}],
        }
        if b.usage:
            data["usage"] = b.usage
        self._json(data)

    def _stream(self, b: Behaviour) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        words = b.text.split(" ") if b.text else []
        for index, word in enumerate(words):
            piece = word if index == 0 else " " + word
            self._event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            if b.gate is not None and index + 1 == b.gate_after:
                b.gate.wait(30)
        for i, (name, args) in enumerate(b.calls):
            half = len(args) // 2
            first = {"index": i, "id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": ""}}
            self._event({"choices": [{"index": 0, "delta": {"tool_calls": [first]}}]})
            for part in (args[:half], args[half:]):
                delta = {"tool_calls": [{"index": i, "function": {"arguments": part}}]}
                self._event({"choices": [{"index": 0, "delta": delta}]})
        self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": b.finish}]})
        if b.usage:
            self._event({"choices": [], "usage": b.usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, data: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
        self.wfile.flush()

    def _json(self, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def model_server() -> Iterator[FakeModelServer]:
    server = FakeModelServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@dataclass
class AccessToken:
    token: str
    expires_on: int


class CountingCredential:
    """A stand-in TokenCredential (a real Entra credential cannot be had here): counts and records calls."""

    def __init__(self, lifetime: int = 3600) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.lifetime = lifetime

    def get_token(self, *scopes: str) -> AccessToken:
        self.calls.append(scopes)
        return AccessToken(f"entra-token-{len(self.calls)}", int(time.time()) + self.lifetime)
