"""Shared fixtures: personas, and a real Celery worker on the configured broker for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from agents_admin.models import Run, RunStatus

ROOT = Path(__file__).resolve().parent.parent
# tests/v2clients needs azure-ai-projects 2.x; `make test` runs it in its own environment (.venv-v2clients), the
# rest of the suite here, where azure-ai-projects 1.x is installed.
if not version("azure-ai-projects").startswith("2."):
    collect_ignore = ["v2clients"]
# Fixtures for model endpoints (a real HTTP server on 127.0.0.1) and console URLs.
pytest_plugins = ["tests.model_server"]


# Tests look at a run's usage and stored spans as soon as it ends: every worker settles after each run (the
# batching itself is tested in tests/services/test_runs.py).
os.environ.setdefault("RUN_SETTLE_BATCH", "1")


@pytest.fixture(autouse=True)
def _settle_each_run(settings: Any) -> None:
    settings.RUN_SETTLE_BATCH = int(os.environ["RUN_SETTLE_BATCH"])


@pytest.fixture(autouse=True)
def _isolated_cache(settings: Any) -> Iterator[None]:
    """Each test gets an empty in-process cache (the real one is shared: files or Redis next to the broker)."""
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    yield


@pytest.fixture
def admin_user(db: None) -> User:
    return User.objects.create_superuser("admin", "admin@example.com", "admin-pass-123")


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def anon_client() -> Client:
    return Client()


def worker_env(**extra: str) -> dict[str, str]:
    """Environment for a worker process that talks to the test database and the test broker."""
    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
        auth = db.get("USER") or ""
        if db.get("PASSWORD"):
            auth += f":{db['PASSWORD']}"
        env["DATABASE_URL"] = f"postgres://{auth}{'@' if auth else ''}{host}:{port}/{db['NAME']}"
    env["VAR_DIR"] = str(settings.VAR_DIR)
    env["RUN_LEASE_SECONDS"] = str(settings.RUN_LEASE_SECONDS)
    env["OFFLINE_SLOW_SECONDS"] = str(settings.OFFLINE_SLOW_SECONDS)
    env.update(extra)
    return env


class Worker:
    """A real ``celery worker`` subprocess on the configured broker (Redis, or the embedded one)."""

    def __init__(self, **env: str) -> None:
        self.log = Path(settings.VAR_DIR) / f"worker-{os.getpid()}-{time.monotonic_ns()}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "dashboard", "worker", "-Q", "runs,maintenance",
             "--concurrency", "2", "--pool", "prefork", "-l", "info", "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=worker_env(**env), stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.log.read_text()}")
            if " ready." in self.log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as an OOM killer or a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def purge_queues() -> None:
    from dashboard.celery import app

    with app.connection_for_write() as conn:
        for queue in ("runs", "maintenance"):
            # A queue that does not exist yet has nothing to purge.
            with contextlib.suppress(Exception):
                conn.default_channel.queue_purge(queue)


class _SharedWorker:
    """One worker shared by the tests that need one; tests that kill workers stop it first."""

    current: Worker | None = None

    @classmethod
    def get(cls) -> Worker:
        if cls.current is None or cls.current.process.poll() is not None:
            purge_queues()
            cls.current = Worker()
        return cls.current

    @classmethod
    def stop(cls) -> None:
        if cls.current is not None:
            cls.current.stop()
            cls.current = None


@pytest.fixture(scope="session", autouse=True)
def _embedded_broker() -> Iterator[None]:
    """Without REDIS_URL, the suite's broker is the embedded Valkey server on VAR_DIR's socket, in memory only
    (one already answering there, e.g. `make run`'s, is used as it is)."""
    from agents_admin.lib import embedded_broker

    socket_path = Path(settings.EMBEDDED_BROKER_SOCKET)
    if settings.REDIS_URL or embedded_broker.ping(socket_path):
        yield
        return
    server = embedded_broker.start(
        socket_path.parent, socket_path, persist=False, log=Path(settings.VAR_DIR) / "broker.log"
    )
    yield
    embedded_broker.stop(server)


@pytest.fixture(scope="session", autouse=True)
def _stop_shared_worker_at_exit(_embedded_broker: None) -> Iterator[None]:
    yield
    _SharedWorker.stop()
    # The streams' look threads let go of the test database before it is dropped.
    from agents_admin.api.streaming import LOOKS

    LOOKS.close_connections()


@pytest.fixture
def celery_worker(transactional_db: None) -> Worker:
    """A real worker (shared by the session); data must be committed (transactional_db) for it to see it."""
    return _SharedWorker.get()


@pytest.fixture
def own_workers(transactional_db: None) -> Iterator[list[Worker]]:
    """For tests that start (and kill) their own workers: no shared worker competes for their runs."""
    _SharedWorker.stop()
    purge_queues()
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll until ``predicate()`` is truthy; returns its value or fails the test with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def wait_for_status(run: Run, *statuses: str, timeout: float = 20.0) -> Run:
    def reached() -> Run | None:
        run.refresh_from_db()
        return run if run.status in statuses else None

    try:
        return wait_for(reached, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"run {run.id} stayed {run.status}, expected {statuses}") from None


TERMINAL = [s.value for s in RunStatus if s not in ("queued", "in_progress", "requires_action", "cancelling")]


@pytest.fixture
def fake_foundry() -> Iterator[Any]:
    """A fake Foundry project (classic Agents contract) on 127.0.0.1, see tests/fake_foundry.py."""
    from tests.fake_foundry import FakeFoundry

    server = FakeFoundry().start()
    yield server
    server.stop()
