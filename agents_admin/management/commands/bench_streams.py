"""Benchmark (not a test) for streams under the ASGI server: many open streams, a plain GET beside them, and how
long a delta takes from the worker's write to the client; prints JSON.

The command starts one web process (``--server uvicorn`` or ``granian``) on ``--port``, opens ``--streams``
classic run streams through the API (``stream: true``, no worker: each run stays queued, so its stream stays
open), and measures:

- a plain GET (``GET /threads/{id}``, authenticated, one database read) p50/p95, before and while they are open;
- the web process's resident memory before and after, per open stream;
- producer -> client latency: for ``--live`` of those runs, this process plays the worker with the run engine's own
  code (``run_claim``, then the streamed message's checkpoints, as a model's tokens call them: a text notice each,
  a write to the store every RUN_CHECKPOINT_SECONDS): the time from the moment a piece is handed to the checkpoint
  to the moment its ``thread.message.delta`` reaches the client.

Everything lives in a project named ``bench-streams``, emptied before and after; use a scratch database
(``make bench-streams`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from agents_admin.lib import embedded_broker
from agents_admin.management.commands._stack import ROOT, broker_start_if_needed, stack_env
from agents_admin.management.commands.bench_runs import ms, percentile
from agents_admin.models import Project, Run, Thread
from agents_admin.services import runs as run_engine
from agents_admin.services.agents import agent_create
from agents_admin.services.api_keys import api_key_create
from agents_admin.services.run_events import run_changed
from agents_admin.services.runs import run_cancel, run_claim
from agents_admin.services.threads import thread_create

BENCH_PROJECT = "bench-streams"
SERVERS = {
    "uvicorn": ["-m", "uvicorn", "dashboard.asgi:application", "--host", "127.0.0.1", "--no-proxy-headers",
                "--log-level", "warning", "--no-access-log", "--port"],
    "granian": ["-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--workers", "1",
                "--log-level", "warning", "dashboard.asgi:application", "--port"],
}  # fmt: skip


def tree(pid: int) -> list[int]:
    """The process and its descendants (granian serves from child processes)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += tree(int(child))
    return found


def status_sum(pid: int, field: str) -> int:
    """A /proc status field (VmRSS in KiB, Threads) summed over the process tree."""
    total = 0
    for member in tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
    return total


def rss_kib(pid: int) -> int:
    return status_sum(pid, "VmRSS")


def threads_of(pid: int) -> int:
    return status_sum(pid, "Threads")


class Command(BaseCommand):
    help = "Benchmark open streams under the ASGI server (GET p95 beside them, memory, delta latency); print JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--streams", type=int, default=200)
        parser.add_argument("--live", type=int, default=20, help="Streams whose runs this process writes into.")
        parser.add_argument("--deltas", type=int, default=20, help="Pieces of text produced for each live run.")
        parser.add_argument("--gets", type=int, default=200, help="Plain GETs per measurement.")
        parser.add_argument("--server", choices=sorted(SERVERS), default="uvicorn")
        parser.add_argument("--port", type=int, default=8215)
        parser.add_argument("--output", default="", help="Also write the JSON to this file.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["live"] > options["streams"]:
            raise CommandError("--live cannot be more than --streams")
        self._clear()
        project = Project.objects.create(name=BENCH_PROJECT, display_name="Stream benchmark")
        agent = agent_create(project=project, name="Bench", model="gpt-4o", instructions="Answer briefly.")
        threads = [thread_create(project=project) for _ in range(options["streams"])]
        key = api_key_create(project=project, label="bench").secret
        broker = broker_start_if_needed()
        server = self._start_server(options["server"], options["port"])
        try:
            result = asyncio.run(self._measure(options, project.name, agent.id, [t.id for t in threads], key, server))
        finally:
            server.terminate()
            server.wait(20)
            if broker is not None:
                embedded_broker.stop(broker)
        load = os.getloadavg()
        result["conditions"] = {
            "server": options["server"],
            "database": connection.vendor,
            "notices": "redis" if settings.REDIS_URL else "embedded",
            "load_average_1_5_15": [round(x, 2) for x in load],
            "cpus": os.cpu_count(),
        }
        self._clear()
        text = json.dumps(result, indent=2)
        if options["output"]:
            Path(options["output"]).write_text(text + "\n")
        self.stdout.write(text)

    def _start_server(self, name: str, port: int) -> subprocess.Popen[bytes]:
        log = Path(settings.VAR_DIR) / "bench-streams-server.log"
        # Limits off: this measures the server, not the per-key limits. Connections are not kept between
        # requests, as in the production image.
        env = stack_env(API_STREAMS_PER_KEY="0", API_RUNS_PER_MINUTE_PER_KEY="0", DB_CONN_MAX_AGE="0")
        process = subprocess.Popen(  # noqa: S603 - our own argv
            [sys.executable, *SERVERS[name], str(port)],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(f"{name} exited:\n{log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        process.terminate()
        raise CommandError(f"{name} did not answer on port {port}")

    async def _measure(
        self,
        options: dict[str, Any],
        project: str,
        agent_id: str,
        thread_ids: list[str],
        key: str,
        server: subprocess.Popen[bytes],
    ) -> dict[str, Any]:
        base = f"http://127.0.0.1:{options['port']}/api/projects/{project}"
        headers = {"Authorization": f"Bearer {key}"}
        limits = httpx.Limits(max_connections=len(thread_ids) + 20, max_keepalive_connections=len(thread_ids) + 20)
        async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits) as client:
            get_url = f"{base}/threads/{thread_ids[0]}?api-version=v1"
            await self._gets(client, get_url, 20)  # warm up
            idle_gets = await self._gets(client, get_url, options["gets"])
            rss_before, threads_before = rss_kib(server.pid), threads_of(server.pid)

            arrivals: dict[str, dict[str, float]] = {tid: {} for tid in thread_ids}
            opened: dict[str, asyncio.Event] = {tid: asyncio.Event() for tid in thread_ids}
            run_ids: dict[str, str] = {}
            began = time.monotonic()
            readers = [
                asyncio.create_task(self._stream(client, base, agent_id, tid, arrivals[tid], opened[tid], run_ids))
                for tid in thread_ids
            ]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened.values())), 120)
            open_in = time.monotonic() - began
            await asyncio.sleep(1)
            rss_open, threads_open = rss_kib(server.pid), threads_of(server.pid)
            busy_gets = await self._gets(client, get_url, options["gets"])

            live = [run_ids[tid] for tid in thread_ids[: options["live"]]]
            produced: dict[str, dict[str, float]] = {}
            writer = threading.Thread(target=self._produce, args=(live, options["deltas"], produced))
            writer.start()
            while writer.is_alive():
                await asyncio.sleep(0.05)
            writer.join()
            await asyncio.sleep(1)
            latencies = []
            by_run = {run_ids[tid]: arrivals[tid] for tid in thread_ids}
            missing = 0
            for run_id, pieces in produced.items():
                for piece, at in pieces.items():
                    if piece in by_run[run_id]:
                        latencies.append(by_run[run_id][piece] - at)
                    else:
                        missing += 1
            await asyncio.to_thread(self._cancel_all, list(run_ids.values()))
            await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 60)
        streams = len(thread_ids)
        return {
            "streams_open": streams,
            "opened_in_s": round(open_in, 2),
            "plain_get_ms": {
                "no_streams": {"p50": ms(statistics.median(idle_gets)), "p95": ms(percentile(idle_gets, 0.95))},
                "with_streams_open": {
                    "p50": ms(statistics.median(busy_gets)),
                    "p95": ms(percentile(busy_gets, 0.95)),
                },
            },
            "server_rss_mib": {"before": round(rss_before / 1024, 1), "with_streams_open": round(rss_open / 1024, 1)},
            "kib_per_open_stream": round((rss_open - rss_before) / streams, 1),
            "server_threads": {"before": threads_before, "with_streams_open": threads_open},
            "delta_latency_ms": {
                "deltas": len(latencies),
                "missing": missing,
                "p50": ms(statistics.median(latencies)) if latencies else None,
                "p95": ms(percentile(latencies, 0.95)) if latencies else None,
                "max": ms(max(latencies)) if latencies else None,
            },
        }

    async def _gets(self, client: httpx.AsyncClient, url: str, count: int) -> list[float]:
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            response = await client.get(url)
            timings.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise CommandError(f"GET {url}: {response.status_code} {response.text[:200]}")
        return timings

    async def _stream(
        self,
        client: httpx.AsyncClient,
        base: str,
        agent_id: str,
        thread_id: str,
        arrivals: dict[str, float],
        opened: asyncio.Event,
        run_ids: dict[str, str],
    ) -> None:
        body = {"assistant_id": agent_id, "stream": True}
        async with client.stream("POST", f"{base}/threads/{thread_id}/runs?api-version=v1", json=body) as response:
            if response.status_code != 200:
                raise CommandError(f"stream: {response.status_code} {(await response.aread())[:200]!r}")
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "thread.run.queued":
                    run_ids[thread_id] = json.loads(line.removeprefix("data: "))["id"]
                    opened.set()
                elif line.startswith("data: ") and event == "thread.message.delta":
                    data = json.loads(line.removeprefix("data: "))
                    now = time.perf_counter()
                    # Two writes between two looks arrive as one delta: each piece ends with a space.
                    for piece in data["delta"]["content"][0]["text"]["value"].split(" "):
                        if piece:
                            arrivals.setdefault(piece + " ", now)

    def _produce(self, run_ids: list[str], deltas: int, produced: dict[str, dict[str, float]]) -> None:
        """The worker's side, with the run engine's code: claim each run, then hand its checkpoint the text piece
        by piece as a model's tokens would (round-robin over the runs, about 7 pieces a second each)."""
        try:
            streams = {}
            for run_id in run_ids:
                run_claim(run_id)
                streams[run_id] = run_engine._Stream(Run.objects.select_related("thread").get(pk=run_id))
                produced[run_id] = {}
            time.sleep(0.5)  # their streams say in_progress first
            for number in range(deltas):
                for run_id, stream in streams.items():
                    piece = f"w{number}-{run_id[-6:]} "
                    produced[run_id][piece] = time.perf_counter()
                    stream.checkpoint(stream.text + piece)
                    time.sleep(0.005)
                time.sleep(0.05)
        finally:
            connection.close()

    def _cancel_all(self, run_ids: list[str]) -> None:
        try:
            for run in Run.objects.filter(pk__in=run_ids).select_related("thread"):
                if not run.is_terminal:
                    run_cancel(run=run)
            # A claimed run waits in cancelling for its worker: this process is that worker.
            Run.objects.filter(pk__in=run_ids, status="cancelling").update(status="cancelled")
            for run_id in run_ids:
                run_changed(run_id)
        finally:
            connection.close()

    def _clear(self) -> None:
        Run.objects.filter(thread__project__name=BENCH_PROJECT).delete()
        Thread.objects.filter(project__name=BENCH_PROJECT).delete()
        Project.objects.filter(name=BENCH_PROJECT).delete()
