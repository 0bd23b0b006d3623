"""A real HTTP API on 127.0.0.1 described by an OpenAPI 3 spec, for the ``openapi`` tool's tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


class WeatherApi:
    """``GET /v1/forecast/{city}?days=n`` answers a forecast; ``/v1/slow`` sleeps; ``/v1/huge`` is 1 MB."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                parts = urlsplit(self.path)
                api.requests.append({"path": parts.path, "query": parse_qs(parts.query), "headers": dict(self.headers)})
                if parts.path == "/v1/slow":
                    time.sleep(3)
                    body = b'{"late": true}'
                elif parts.path == "/v1/huge":
                    body = b"x" * 1_000_000
                elif parts.path.startswith("/v1/forecast/"):
                    city = parts.path.rsplit("/", 1)[1]
                    days = parse_qs(parts.query).get("days", ["1"])[0]
                    body = json.dumps({"city": city, "days": int(days), "sky": "sunny", "temp_c": 23}).encode()
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spec(self, *, key_header: str | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "openapi": "3.0.3",
            "info": {"title": "Weather", "version": "1"},
            "servers": [{"url": f"{self.url}/v1"}],
            "paths": {
                "/forecast/{city}": {
                    "get": {
                        "operationId": "getForecast",
                        "summary": "The forecast for a city",
                        "parameters": [
                            {"name": "city", "in": "path", "required": True, "schema": {"type": "string"}},
                            {"$ref": "#/components/parameters/days"},
                        ],
                    }
                },
                "/slow": {"get": {"operationId": "slow"}},
                "/huge": {"get": {"operationId": "huge"}},
            },
            "components": {
                "parameters": {"days": {"name": "days", "in": "query", "schema": {"type": "integer"}}},
            },
        }
        if key_header:
            spec["components"]["securitySchemes"] = {"key": {"type": "apiKey", "in": "header", "name": key_header}}
        return spec

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def weather_api() -> Iterator[WeatherApi]:
    api = WeatherApi()
    yield api
    api.close()


def openapi_tool(api: WeatherApi, *, name: str = "weather", auth: dict[str, Any] | None = None, **spec: Any) -> dict:
    return {
        "type": "openapi",
        "openapi": {"name": name, "spec": api.spec(**spec), "auth": auth or {"type": "anonymous"}},
    }
