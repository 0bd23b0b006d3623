"""A real HTTP server on 127.0.0.1 that speaks the Foundry "classic" Agents contract, for tests.

In memory, threaded, with fault injection (429 + Retry-After, 5xx, a slow answer after processing, a cut
connection) and a log of every request. Runs move one state per GET, so tests drive them without timers:
queued -> in_progress -> completed (an assistant message "Echo: <last user text>" and a message_creation
step), or requires_action for "/tool <name> <json>" and then completed once outputs are submitted,
failed for "/fail", and cancelling -> cancelled after a cancel.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROJECT_PREFIX = "/api/projects/"


@dataclass
class Fault:
    """Make the next ``times`` requests matching ``method`` and ``path`` (a regex on the path below the project)
    fail. ``mode``: "before" answers ``status`` without processing; "after" processes, then answers ``status``;
    "slow_after" processes, then waits ``delay`` seconds before answering (a client read timeout);
    "cut_after" processes, then closes the connection without an answer; "cut_before" closes at once."""

    method: str
    path: str
    status: int = 500
    mode: str = "before"
    times: int = 1
    retry_after: str | None = None
    delay: float = 2.0
    skip: int = 0  # let this many matching requests through first


@dataclass
class Store:
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {
            "assistants": {},
            "threads": {},
            "messages": {},
            "runs": {},
            "steps": {},
            # The v2 protocol's side of a Foundry project (read-only here): seeded by seed_agent_v2/seed_conversation.
            "agents_v2": {},
            "agent_versions": {},
            "conversations": {},
            "items": {},
            "responses": {},
        }  # fmt: skip
    )
    order: dict[str, int] = field(default_factory=dict)
    run_ticks: dict[str, int] = field(default_factory=dict)


class FakeFoundry:
    def __init__(
        self, *, project: str = "p1", key: str = "test-key", list_threads: bool = True, tls_dir: Path | None = None
    ) -> None:
        self.project = project
        self.key = key
        self.list_threads = list_threads
        self.store = Store()
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self._seq = itertools.count(1)
        self.clock = int(time.time()) - 3600  # an hour ago, advancing one second per object
        # Optional hook that may rewrite a list envelope before it is sent (tests of paging edge cases).
        self.envelope_hook: Any = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.scheme = "http"
        self.cert: Path | None = None
        if tls_dir is not None:
            # HTTPS with a self-signed certificate for 127.0.0.1 (ref §8.3); clients trust it via ``cert``.
            self.cert, key_file = tls_dir / "cert.pem", tls_dir / "key.pem"
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key_file),
                 "-out", str(self.cert), "-days", "2", "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                check=True, capture_output=True,
            )  # fmt: skip
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.cert), str(key_file))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # --- lifecycle ------------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}{PROJECT_PREFIX}{self.project}"

    def start(self) -> FakeFoundry:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- helpers for tests ------------------------------------------------------------------------------------

    def requests_to(self, method: str, pattern: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and re.fullmatch(pattern, r["path"])]

    def now(self) -> int:
        self.clock += 1
        return self.clock

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(6)}"

    def add(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.store.objects[kind][obj["id"]] = obj
            self.store.order[obj["id"]] = next(self._seq)
        return obj

    def seed_agent(self, **fields: Any) -> dict[str, Any]:
        agent = {
            "id": self._new_id("asst"),
            "object": "assistant",
            "created_at": self.now(),
            "name": "Remote helper",
            "description": None,
            "model": "gpt-4o",
            "instructions": "Be helpful.",
            "tools": [],
            "tool_resources": {},
            "temperature": 1.0,
            "top_p": 1.0,
            "response_format": "auto",
            "metadata": {},
        }
        agent.update(fields)
        return self.add("assistants", agent)

    def seed_thread(self, messages: list[str] | None = None, **fields: Any) -> dict[str, Any]:
        thread = {
            "id": self._new_id("thread"),
            "object": "thread",
            "created_at": self.now(),
            "tool_resources": {},
            "metadata": {},
        }
        thread.update(fields)
        self.add("threads", thread)
        for text in messages or []:
            self.seed_message(thread["id"], text)
        return thread

    def seed_message(self, thread_id: str, text: str, role: str = "user", **fields: Any) -> dict[str, Any]:
        now = self.now()
        message = {
            "id": self._new_id("msg"),
            "object": "thread.message",
            "created_at": now,
            "thread_id": thread_id,
            "status": "completed",
            "incomplete_details": None,
            "completed_at": now,
            "incomplete_at": None,
            "role": role,
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "assistant_id": None,
            "run_id": None,
            "attachments": [],
            "metadata": {},
        }
        message.update(fields)
        return self.add("messages", message)

    def seed_agent_v2(self, name: str, definitions: list[dict[str, Any]]) -> dict[str, Any]:
        """A v2 agent with a version per definition (numbered from 1), as ``GET /agents`` lists it."""
        versions = []
        for number, definition in enumerate(definitions, start=1):
            version = {"object": "agent.version", "id": f"{name}:{number}", "name": name, "version": str(number),
                       "created_at": self.now(), "metadata": {}, "definition": {"kind": "prompt", **definition},
                       "agent": name}  # fmt: skip
            versions.append(self.add("agent_versions", version))
        latest = {**versions[-1], "agent_guid": self._new_id("guid")}
        agent = {"object": "agent", "id": name, "name": name, "created_at": versions[0]["created_at"],
                 "versions": {"latest": latest}}  # fmt: skip
        return self.add("agents_v2", agent)

    def seed_conversation(self, items: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        """A v2 conversation (not a classic thread: ``/threads`` does not list it) with its items."""
        conversation = {"id": self._new_id("conv"), "object": "conversation", "created_at": self.now(), "metadata": {}}
        conversation.update(fields)
        self.add("conversations", conversation)
        for item in items:
            self.add("items", {"id": self._new_id("msg"), "status": "completed", "created_at": self.now(),
                               "conversation": conversation["id"], **item})  # fmt: skip
        return conversation

    def seed_response(
        self,
        conversation_id: str,
        agent: str,
        text: str,
        *,
        status: str = "completed",
        tokens: tuple[int, int] = (0, 0),
    ) -> dict[str, Any]:
        """A response of ``agent`` in a conversation; when it answered, its message item joins the conversation."""
        response = {"id": self._new_id("resp"), "object": "response", "created_at": self.now(), "status": status,
                    "model": "gpt-4o", "conversation": {"id": conversation_id}, "output": [], "error": None,
                    "agent_reference": {"type": "agent_reference", "name": agent, "version": "1"},
                    "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1],
                              "total_tokens": sum(tokens)}}  # fmt: skip
        self.add("responses", response)
        if status == "completed":
            self.add("items", {"id": self._new_id("msg"), "type": "message", "role": "assistant", "status": "completed",
                               "created_at": self.now(), "conversation": conversation_id, "response_id": response["id"],
                               "agent_reference": response["agent_reference"],
                               "content": [{"type": "output_text", "text": text, "annotations": []}]})  # fmt: skip
        return response

    def delete_remote(self, kind: str, object_id: str) -> None:
        with self.lock:
            self.store.objects[kind].pop(object_id, None)

    # --- listing --------------------------------------------------------------------------------------------

    def _list(self, items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        order = query.get("order", "desc")
        limit = max(1, min(100, int(query.get("limit", "20"))))
        items = sorted(items, key=lambda o: (o["created_at"], self.store.order[o["id"]]), reverse=order == "desc")
        ids = [o["id"] for o in items]
        if query.get("after") in ids:
            items = items[ids.index(query["after"]) + 1 :]
        elif query.get("after"):
            items = []
        if query.get("before") in ids:
            items = items[: ids.index(query["before"])]
        page = items[:limit]
        envelope = {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }
        return envelope

    # --- runs ---------------------------------------------------------------------------------------------------

    def _run_object(self, thread_id: str, assistant: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        now = self.now()
        return {
            "id": self._new_id("run"),
            "object": "thread.run",
            "thread_id": thread_id,
            "assistant_id": assistant["id"],
            "status": "queued",
            "required_action": None,
            "last_error": None,
            "model": body.get("model") or assistant["model"],
            "instructions": body.get("instructions") or assistant["instructions"],
            "tools": assistant["tools"],
            "created_at": now,
            "expires_at": now + 600,
            "started_at": None,
            "completed_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "incomplete_details": None,
            "usage": None,
            "temperature": 1.0,
            "top_p": 1.0,
            "max_prompt_tokens": None,
            "max_completion_tokens": None,
            "truncation_strategy": {"type": "auto", "last_messages": None},
            "tool_choice": "auto",
            "response_format": "auto",
            "metadata": body.get("metadata") or {},
            "tool_resources": {},
            "parallel_tool_calls": True,
        }

    def _last_user_text(self, thread_id: str) -> str:
        messages = [m for m in self.store.objects["messages"].values() if m["thread_id"] == thread_id]
        messages.sort(key=lambda m: self.store.order[m["id"]])
        for message in reversed(messages):
            if message["role"] == "user":
                return str(message["content"][0]["text"]["value"])
        return ""

    def _step(self, run: dict[str, Any], kind: str, details: dict[str, Any], status: str) -> dict[str, Any]:
        now = self.now()
        return self.add(
            "steps",
            {
                "id": self._new_id("step"),
                "object": "thread.run.step",
                "type": kind,
                "assistant_id": run["assistant_id"],
                "thread_id": run["thread_id"],
                "run_id": run["id"],
                "status": status,
                "step_details": details,
                "last_error": None,
                "created_at": now,
                "expired_at": None,
                "completed_at": now if status == "completed" else None,
                "cancelled_at": None,
                "failed_at": None,
                "usage": None,
                "metadata": {},
            },
        )

    def _advance(self, run: dict[str, Any]) -> None:
        """One state per GET: what a slow remote looks like to a poller."""
        status = run["status"]
        now = self.now()
        text = self._last_user_text(run["thread_id"])
        if status == "cancelling":
            run.update(status="cancelled", cancelled_at=now, expires_at=None)
        elif status == "queued":
            run.update(status="in_progress", started_at=now)
        elif status == "in_progress":
            if text.startswith("/tool ") and not any(
                s["run_id"] == run["id"] and s["type"] == "tool_calls" for s in self.store.objects["steps"].values()
            ):
                _, name, args = (text.split(" ", 2) + ["{}"])[:3]
                call = {"id": self._new_id("call"), "type": "function", "function": {"name": name, "arguments": args}}
                self._step(run, "tool_calls", {"type": "tool_calls", "tool_calls": [call]}, "in_progress")
                run.update(
                    status="requires_action",
                    required_action={"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [call]}},
                )
            elif text.startswith("/fail"):
                run.update(
                    status="failed",
                    failed_at=now,
                    expires_at=None,
                    last_error={"code": "server_error", "message": "boom"},
                )
            elif text.startswith("/slow"):
                pass
            else:
                outputs = [
                    c["function"].get("output", "")
                    for s in self.store.objects["steps"].values()
                    if s["run_id"] == run["id"] and s["type"] == "tool_calls"
                    for c in s["step_details"]["tool_calls"]
                ]
                reply = f"Echo: {text}" + (f" (tool said {outputs[0]})" if outputs else "")
                message = self.seed_message(
                    run["thread_id"], reply, role="assistant", assistant_id=run["assistant_id"], run_id=run["id"]
                )
                self._step(
                    run,
                    "message_creation",
                    {"type": "message_creation", "message_creation": {"message_id": message["id"]}},
                    "completed",
                )
                run.update(
                    status="completed",
                    completed_at=now,
                    expires_at=None,
                    usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                )

    # --- HTTP -------------------------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms each.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self, method: str) -> None:
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                prefix = PROJECT_PREFIX + fake.project
                path = url.path[len(prefix) :] if url.path.startswith(prefix) else url.path
                record = {"method": method, "path": path, "query": query, "body": body}
                with fake.lock:
                    fake.requests.append(record)
                    fault = next(
                        (f for f in fake.faults if f.method == method and re.fullmatch(f.path, path) and f.times > 0),
                        None,
                    )
                    if fault and fault.skip > 0:
                        fault.skip -= 1
                        fault = None
                    elif fault:
                        fault.times -= 1
                if not url.path.startswith(prefix):
                    return self._reply(404, {"error": {"code": "404", "message": "Resource not found"}})
                if self.headers.get("Authorization") != f"Bearer {fake.key}":
                    return self._reply(401, {"error": {"code": "unauthorized", "message": "Bad or missing token."}})
                if query.get("api-version") != "v1":
                    return self._reply(400, {"error": {"code": "invalid_api_version", "message": "Use v1."}})
                if fault and fault.mode == "cut_before":
                    self.close_connection = True
                    self.connection.close()
                    return None
                if fault and fault.mode == "before":
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                    message = "Rate limit is exceeded." if fault.status == 429 else "Injected failure."
                    return self._reply(
                        fault.status, {"error": {"code": str(fault.status), "message": message}}, headers
                    )
                with fake.lock:
                    status, result = fake.route(method, path, query, body)
                if fault and fault.mode == "after":
                    return self._reply(fault.status, {"error": {"code": "server_error", "message": "Injected."}})
                if fault and fault.mode == "slow_after":
                    time.sleep(fault.delay)
                if fault and fault.mode == "cut_after":
                    self.close_connection = True
                    self.connection.close()
                    return None
                try:
                    return self._reply(status, result)
                except OSError:  # the client gave up waiting (a read timeout)
                    return None

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        return Handler

    def route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        objects = self.store.objects
        parts = [p for p in path.split("/") if p]

        def missing(kind: str, object_id: str) -> tuple[int, dict[str, Any]]:
            return 404, {"error": {"code": "not_found", "message": f"No {kind} found with id '{object_id}'."}}

        def listing(items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
            envelope = self._list(items, query)
            if self.envelope_hook:
                envelope = self.envelope_hook(path, query, envelope)
            return 200, envelope

        if parts == ["agents"] and method == "GET" and objects["agents_v2"]:
            return listing(list(objects["agents_v2"].values()))
        if len(parts) == 3 and parts[0] == "agents" and parts[2] == "versions" and method == "GET":
            return listing([v for v in objects["agent_versions"].values() if v["agent"] == parts[1]])
        if parts == ["openai", "v1", "responses"] and method == "GET" and objects["responses"]:
            conversation = query.get("conversation_id")
            return listing([r for r in objects["responses"].values() if r["conversation"]["id"] == conversation])
        if len(parts) == 4 and parts[:3] == ["openai", "v1", "responses"] and method == "GET":
            response = objects["responses"].get(parts[3])
            return (200, response) if response else missing("response", parts[3])
        if parts == ["openai", "v1", "conversations"] and method == "GET" and objects["conversations"]:
            return listing(list(objects["conversations"].values()))
        if len(parts) == 5 and parts[:3] == ["openai", "v1", "conversations"] and parts[4] == "items":
            if parts[3] not in objects["conversations"]:
                return missing("conversation", parts[3])
            return listing([i for i in objects["items"].values() if i["conversation"] == parts[3]])
        if parts == ["assistants"]:
            if method == "GET":
                return listing(list(objects["assistants"].values()))
            if not body.get("model"):
                return 400, {"error": {"code": "invalid_value", "message": "model is required", "param": "model"}}
            fields = {k: v for k, v in body.items() if k in ("name", "description", "model", "instructions", "tools",
                                                               "temperature", "top_p", "metadata")}  # fmt: skip
            return 200, self.seed_agent(**fields)
        if len(parts) == 2 and parts[0] == "assistants":
            agent = objects["assistants"].get(parts[1])
            if agent is None:
                return missing("assistant", parts[1])
            if method == "DELETE":
                del objects["assistants"][parts[1]]
                return 200, {"id": parts[1], "object": "assistant.deleted", "deleted": True}
            if method == "POST":
                agent.update({k: v for k, v in body.items() if k in agent and k not in ("id", "object", "created_at")})
            return 200, agent
        if parts == ["threads"]:
            if method == "GET":
                if not self.list_threads:
                    return 404, {"error": {"code": "404", "message": "Resource not found"}}
                return listing(list(objects["threads"].values()))
            return 200, self.seed_thread(metadata=body.get("metadata") or {})
        if not parts or parts[0] != "threads":
            return 404, {"error": {"code": "404", "message": "Resource not found"}}
        thread = objects["threads"].get(parts[1])
        if thread is None:
            return missing("thread", parts[1])
        thread_id = thread["id"]
        if len(parts) == 2:
            if method == "DELETE":
                del objects["threads"][thread_id]
                for kind in ("messages", "runs", "steps"):
                    for oid in [o["id"] for o in objects[kind].values() if o["thread_id"] == thread_id]:
                        del objects[kind][oid]
                return 200, {"id": thread_id, "object": "thread.deleted", "deleted": True}
            if method == "POST":
                thread["metadata"] = body.get("metadata") or {}
            return 200, thread
        if parts[2] == "messages" and len(parts) == 3:
            if method == "GET":
                items = [m for m in objects["messages"].values() if m["thread_id"] == thread_id]
                if query.get("run_id"):
                    items = [m for m in items if m["run_id"] == query["run_id"]]
                return listing(items)
            content = body.get("content")
            text = content if isinstance(content, str) else content[0]["text"]
            return 200, self.seed_message(
                thread_id, text, role=body.get("role", "user"), metadata=body.get("metadata") or {}
            )
        if parts[2] == "runs" and len(parts) == 3:
            if method == "GET":
                return listing([r for r in objects["runs"].values() if r["thread_id"] == thread_id])
            assistant = objects["assistants"].get(body.get("assistant_id", ""))
            if assistant is None:
                return missing("assistant", body.get("assistant_id", ""))
            live = ("queued", "in_progress", "requires_action", "cancelling")
            active = [r for r in objects["runs"].values() if r["thread_id"] == thread_id and r["status"] in live]
            if active:
                message = f"Thread {thread_id} already has an active run {active[0]['id']}."
                return 400, {"error": {"code": "invalid_request", "message": message}}
            return 200, self.add("runs", self._run_object(thread_id, assistant, body))
        run = objects["runs"].get(parts[3]) if len(parts) >= 4 and parts[2] == "runs" else None
        if run is None or run["thread_id"] != thread_id:
            return missing("run", parts[3] if len(parts) >= 4 else "")
        if len(parts) == 4:
            if method == "GET":
                self._advance(run)
            return 200, run
        if parts[4] == "cancel":
            if run["status"] in ("completed", "failed", "cancelled", "expired", "incomplete"):
                return 400, {
                    "error": {"code": "invalid_request", "message": f"Cannot cancel run with status '{run['status']}'."}
                }
            run["status"] = "cancelling"
            return 200, run
        if parts[4] == "submit_tool_outputs":
            if run["status"] != "requires_action":
                return 400, {"error": {"code": "invalid_request", "message": "Run is not waiting for tool outputs."}}
            outputs = {o["tool_call_id"]: o["output"] for o in body.get("tool_outputs", [])}
            for step in objects["steps"].values():
                if step["run_id"] == run["id"] and step["type"] == "tool_calls" and step["status"] == "in_progress":
                    for call in step["step_details"]["tool_calls"]:
                        call["function"]["output"] = outputs.get(call["id"], "")
                    step.update(status="completed", completed_at=self.now())
            run.update(status="in_progress", required_action=None)
            return 200, run
        if parts[4] == "steps":
            return listing([s for s in objects["steps"].values() if s["run_id"] == run["id"]])
        return 404, {"error": {"code": "404", "message": "Resource not found"}}
