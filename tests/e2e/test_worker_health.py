"""Workers that cannot hang silently: the liveness probe executes a task, and beat expires and reconciles runs
even while no worker is up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from agents_admin.models import Message, Run, RunSpan, UsageRollup
from agents_admin.services.runs import run_claim, worker_token
from agents_admin.services.threads import message_create
from tests.conftest import ROOT, Worker, wait_for, wait_for_status, worker_env
from tests.factories import make_run

pytestmark = pytest.mark.worker


def _probe(timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "worker_probe", "--timeout", str(timeout)],
        cwd=ROOT, env=worker_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _children(worker: Worker) -> list[int]:
    path = Path(f"/proc/{worker.process.pid}/task/{worker.process.pid}/children")
    return [int(pid) for pid in path.read_text().split()]


def test_the_probe_executes_a_task_on_a_healthy_worker_and_fails_on_a_stuck_pool(own_workers: list[Worker]) -> None:
    worker = Worker()
    own_workers.append(worker)
    healthy = _probe()
    assert healthy.returncode == 0, healthy.stderr
    assert "executed a probe task" in healthy.stdout
    # The main process stays up, but its pool processes stop executing (as if blocked on a lock).
    children = _children(worker)
    for pid in children:
        os.kill(pid, signal.SIGSTOP)
    try:
        stuck = _probe(timeout=3)
        assert stuck.returncode == 1
        assert "did not run within 3 s" in stuck.stderr
    finally:
        for pid in children:
            os.kill(pid, signal.SIGCONT)


def test_the_probe_fails_when_no_worker_answers(own_workers: list[Worker]) -> None:
    result = _probe(timeout=2)
    assert result.returncode == 1 and "did not answer" in result.stderr


@pytest.fixture
def beat(transactional_db: None, tmp_path: Path):
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "dashboard", "beat", "-l", "info", "--schedule",
         str(tmp_path / "schedule")],
        cwd=ROOT, env=worker_env(), stdout=(tmp_path / "beat.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(15)


def test_with_no_worker_beat_expires_a_queued_run_and_requeues_a_dead_claim(own_workers: list[Worker], beat) -> None:
    overdue = make_run(text="nobody will run this")
    Run.objects.filter(pk=overdue.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    orphan = make_run(text="its worker died")
    assert run_claim(orphan.id)
    message_create(thread=orphan.thread, role="assistant", content="half", run=orphan, status="in_progress")
    # Held by a worker that no longer exists (this machine, a process id that is gone).
    gone = subprocess.Popen(["true"])
    gone.wait()
    Run.objects.filter(pk=orphan.pk).update(claimed_by=f"{worker_token().split('/')[0]}/{gone.pid}/gone")
    timeout = 30
    expired = wait_for_status(overdue, "expired", timeout=timeout)
    assert expired.expires_at < timezone.now()
    wait_for_status(orphan, "queued", timeout=timeout)
    # A worker that starts later finishes it, continuing the partial message rather than adding one.
    own_workers.append(Worker())
    wait_for_status(orphan, "completed", timeout=timeout)
    assert list(Message.objects.filter(run=orphan, role="assistant").values_list("status", flat=True)) == ["completed"]


def test_with_no_worker_beat_settles_a_finished_run_its_worker_left_uncounted(own_workers: list[Worker], beat) -> None:
    """A worker settles its finished runs in batches; one that died before its batch left them uncounted, with
    their spans in their own rows. Beat's sweep counts them (usage rollups) and stores the spans, no worker up."""
    run = make_run(text="answered, then the worker died")
    now = timezone.now()
    span = {"kind": "model_call", "name": "offline", "status": "ok", "started_at": now.isoformat()}
    pending = [{**span, "ended_at": (now + timedelta(milliseconds=3)).isoformat()}]
    Run.objects.filter(pk=run.pk).update(
        status="completed", completed_at=now, prompt_tokens=3, completion_tokens=4, total_tokens=7,
        usage_counted=False, trace_pending=pending,
    )  # fmt: skip
    wait_for(lambda: Run.objects.filter(pk=run.pk, usage_counted=True).exists(), timeout=30)
    hours = UsageRollup.objects.filter(period="hour", agent_ref=run.agent_id)
    assert sum(hours.values_list("runs_completed", flat=True)) == 1
    assert sum(hours.values_list("completion_tokens", flat=True)) == 4
    assert list(RunSpan.objects.filter(run=run).values_list("kind", "name")) == [("model_call", "offline")]
