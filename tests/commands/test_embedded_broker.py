"""The embedded broker: a real Valkey server on a unix socket, started by `make run` (manage.py embedded_broker)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.core.management import CommandError, call_command

from agents_admin.lib import embedded_broker
from tests.conftest import ROOT


@pytest.fixture
def broker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A short path: unix socket paths are limited to 107 bytes.
    return tmp_path_factory.mktemp("b")


def test_a_queued_message_survives_a_restart_of_the_persistent_broker(broker_dir: Path) -> None:
    socket_path = broker_dir / "broker.sock"
    server = embedded_broker.start(broker_dir, socket_path, persist=True)
    try:
        redis.Redis(unix_socket_path=str(socket_path)).lpush("runs", b"task")
    finally:
        embedded_broker.stop(server)
    assert not embedded_broker.ping(socket_path)
    server = embedded_broker.start(broker_dir, socket_path, persist=True)
    try:
        assert redis.Redis(unix_socket_path=str(socket_path)).lrange("runs", 0, -1) == [b"task"]
    finally:
        embedded_broker.stop(server)


def test_the_command_serves_the_socket_in_var_dir_and_refuses_a_second_server(broker_dir: Path) -> None:
    env = {"VAR_DIR": str(broker_dir), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "embedded_broker"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    socket_path = broker_dir / "broker" / "broker.sock"
    try:
        for _ in range(100):
            if embedded_broker.ping(socket_path):
                break
            time.sleep(0.1)
        assert embedded_broker.ping(socket_path)
        second = subprocess.run(
            [sys.executable, "manage.py", "embedded_broker"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert second.returncode != 0 and "already running" in second.stderr
        assert embedded_broker.ping(socket_path)  # the first one still answers
    finally:
        server.terminate()
        server.wait(10)


def test_the_command_refuses_when_redis_url_names_the_broker(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    with pytest.raises(CommandError, match="REDIS_URL is set"):
        call_command("embedded_broker")


def test_a_socket_path_too_long_for_unix_sockets_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(embedded_broker.BrokerUnavailable, match="too long"):
        embedded_broker.server_argv(tmp_path, tmp_path / ("x" * 120), persist=False)
