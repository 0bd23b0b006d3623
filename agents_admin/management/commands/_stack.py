"""Processes of a local stack for the run benchmark and the fault kit: Celery workers (and beat) started as
subprocesses on the configured database and broker, each in its own process group so it can be killed whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from agents_admin.lib import embedded_broker

ROOT = Path(settings.BASE_DIR)


def stack_env(**extra: str) -> dict[str, str]:
    """This process's environment, with the database it is using spelled out for the children."""
    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    env["VAR_DIR"] = str(settings.VAR_DIR)
    env.update(extra)
    return env


class StackProcess:
    """A ``celery`` subprocess (worker or beat) logging to a file under ``VAR_DIR/stack``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        folder = Path(settings.VAR_DIR) / "stack"
        folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log = folder / f"{name}.log"
        self.log.write_bytes(b"")
        self.process = subprocess.Popen(  # noqa: S603 - our own argv
            [sys.executable, "-m", "celery", "-A", "dashboard", *argv],
            cwd=ROOT,
            env=env or stack_env(),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if not self.alive:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: no {text!r} in its log after {timeout}s")

    def children(self) -> list[int]:
        """The pool processes of a prefork worker."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the process and its pool processes so far: a figure other load on the
        machine does not change, unlike wall-clock rates."""
        total = 0.0
        for pid in [self.process.pid, *self.children()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def kill(self) -> None:
        """SIGKILL the whole process group, as an OOM killer or a lost machine would."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.alive:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def broker_start_if_needed() -> subprocess.Popen[bytes] | None:
    """Without REDIS_URL and no embedded broker answering, start one (in memory) for the caller to stop."""
    socket_path = Path(settings.EMBEDDED_BROKER_SOCKET)
    if settings.REDIS_URL or embedded_broker.ping(socket_path):
        return None
    return embedded_broker.start(socket_path.parent, socket_path, persist=False)


def start_worker(name: str, *, concurrency: int = 2, queues: str = "runs,maintenance", **env: str) -> StackProcess:
    worker = StackProcess(
        name,
        ["worker", "-n", f"{name}@%h", "-Q", queues, "--concurrency", str(concurrency), "-l", "info",
         "--without-mingle", "--without-gossip"],
        stack_env(**env),
    )  # fmt: skip
    worker.wait_for_log(" ready.")
    return worker


def start_beat(name: str = "beat") -> StackProcess:
    schedule = Path(settings.VAR_DIR) / "stack" / "celerybeat-schedule"
    return StackProcess(name, ["beat", "-l", "info", "--schedule", str(schedule)])
