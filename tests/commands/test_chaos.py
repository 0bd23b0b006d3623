"""``manage.py chaos``, the fault kit, run short: its own broker, two workers and beat on the test database, two
faults, and the runs it reports must all have completed once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents_admin.models import Project
from tests.conftest import ROOT, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_killed_pool_process_and_a_killed_worker_lose_no_run_and_duplicate_no_message(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A short VAR_DIR (unix socket paths are limited to 107 bytes) of its own: the kit starts its own broker there.
    var_dir = tmp_path_factory.mktemp("chaos")
    report = var_dir / "chaos.json"
    env = worker_env(VAR_DIR=str(var_dir))
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "chaos", "--faults", "child,worker", "--runs", "4", "--slow", "1.5",
         "--deadline", "45", "--output", str(report)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = {row["fault"]: row for row in json.loads(Path(report).read_text())["results"]}
    assert sorted(results) == ["child", "worker"]
    for row in results.values():
        assert row["runs"] == row["completed"] == 4, row
        assert (row["lost"], row["stuck"], row["duplicated"], row["messages_left_in_progress"]) == (0, 0, 0, 0), row
    # The kit's pool processes died holding runs: those runs were taken over, not started afresh elsewhere.
    assert results["child"]["retried_runs"] >= 1
    # It cleans up after itself.
    assert not Project.objects.filter(name="chaos").exists()
