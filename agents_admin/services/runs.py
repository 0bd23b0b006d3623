"""The run engine: create, execute (in a Celery worker), pause for tools, cancel, expire, reconcile.

Every status change is a conditional UPDATE on the current status, so two workers, a redelivered message or a
race with cancel/expiry can never both make a transition: whoever changes the row wins, the other backs off.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from agents_admin import validation
from agents_admin.errors import Conflict
from agents_admin.models import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    Agent,
    Message,
    Response,
    Run,
    RunSpan,
    RunStatus,
    RunStep,
    Thread,
)
from agents_admin.providers.base import (
    Cancelled,
    ModelReply,
    ModelRequest,
    PermanentProviderError,
    ProviderError,
    ToolCall,
    TransientProviderError,
    Usage,
)
from agents_admin.providers.registry import provider_with_connection
from agents_admin.services import tools
from agents_admin.services.audit import Actor
from agents_admin.services.context import ModelInput, model_input
from agents_admin.services.dispatch import RUN_EXECUTE, RUNS_QUEUE, queue_length, task_send
from agents_admin.services.run_events import run_changed, text_produced
from agents_admin.services.run_status import run_steps_close, run_transition, thread_run_touch
from agents_admin.services.stores import RunOptions, store_for
from agents_admin.services.threads import message_create, thread_create
from agents_admin.services.traces import RunRecorder, run_ended
from agents_admin.services.usage import runs_settle
from agents_admin.services.vector_stores import stores_ready

logger = logging.getLogger(__name__)

# A provider call is retried on transient errors this many times at most, within the run's time budget.
MAX_PROVIDER_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
# How often a run that waits (a retry's backoff, a connected agent's run) checks it was not cancelled, in seconds
# (its streamed text is written every RUN_CHECKPOINT_SECONDS).
CHECKPOINT_INTERVAL = 0.4
# A claimed run is re-dispatched at most this many times after its worker vanished.
MAX_CLAIMS = 3
# A queued run is sent again after this long when the broker's run queue is empty (it holds no message for it).
RUN_REQUEUE_EMPTY_SECONDS = 5
# The lease: a worker renews its claim's heartbeat this many times per RUN_LEASE_SECONDS while a run is in flight.
LEASE_RENEWALS_PER_PERIOD = 3
# Rounds of hosted tool calls (each followed by a model call) one run turn may make.
MAX_HOSTED_TOOL_ROUNDS = 8
# How long a file search waits for its stores' files still being indexed (seconds).
FILE_SEARCH_WAIT_SECONDS = 60.0


# --- creation ------------------------------------------------------------------------------------------


def run_create(
    *, thread: Thread, agent: Agent, actor: Actor = None, actor_label: str = "", options: RunOptions | None = None
) -> Run:
    """Queue a run of ``agent`` on ``thread``; the worker is told once the transaction commits (a mirrored
    thread's run starts on the remote and a worker follows it).

    Raises Conflict when the thread already has an active run, InvalidInput naming the bad field.
    """
    return store_for(thread).run_create(
        thread=thread, agent=agent, actor=actor, actor_label=actor_label, options=options or RunOptions()
    )


# --- state changes from outside the worker ---------------------------------------------------------------


def run_update(*, run: Run, metadata: dict[str, Any] | None) -> Run:
    """Replace a run's metadata, in any state; a single-column update so it never races the worker."""
    cleaned = validation.validate_metadata(metadata)
    Run.objects.filter(pk=run.pk).update(metadata=cleaned)
    run.refresh_from_db()
    return run


def run_cancel(*, run: Run, actor: Actor = None, actor_label: str = "") -> Run:
    """Cancel a run: at once when no worker holds it (queued, requires_action), else via ``cancelling``.

    Cancelling a run that already ended raises Conflict; cancelling twice is harmless (and audited once: only
    the call that changed the status writes a record).
    """
    return store_for(run).run_cancel(run=run, actor=actor, actor_label=actor_label)


def run_submit_tool_outputs(
    *, run: Run, tool_outputs: list[dict[str, Any]], actor: Actor = None, actor_label: str = ""
) -> Run:
    """Record outputs for every pending tool call and queue the run again.

    Every pending call needs exactly one output; anything else raises InvalidInput and changes nothing.
    """
    return store_for(run).run_submit_tool_outputs(
        run=run, tool_outputs=tool_outputs, actor=actor, actor_label=actor_label
    )


def runs_expire(*, now: datetime | None = None) -> int:
    """Expire every unfinished run past its expires_at; returns how many. Safe to run anywhere, any time."""
    now = now or timezone.now()
    expired = 0
    due = Run.objects.filter(
        status__in=ACTIVE_RUN_STATUSES,
        expires_at__lte=now,
        remote_project__isnull=True,  # a remote run's lifecycle is the remote's (services/remote.py)
    ).values_list("id", "thread_id")
    for run_id, thread_id in list(due[:1000]):
        with transaction.atomic():
            ended = run_transition(run_id, list(ACTIVE_RUN_STATUSES), RunStatus.EXPIRED, required_action=None)
            if ended:
                run_steps_close(run_id, RunStep.Status.EXPIRED, now)
                thread_run_touch(thread_id, RunStatus.EXPIRED, now)
                expired += 1
        if ended:
            run_ended(run_id)
    if expired:
        logger.info("expired %d runs", expired)
    return expired


def runs_reconcile(*, now: datetime | None = None) -> int:
    """Re-dispatch runs whose task went missing; returns how many were sent again. Never runs one twice: the
    worker's claim is a conditional update.

    - queued runs not claimed within RUN_REQUEUE_SECONDS, or RUN_REQUEUE_EMPTY_SECONDS when the broker's run
      queue is empty (the broker lost the message: a restart without persistence, a killed worker's prefetched
      message, or a send that failed);
    - in-progress (or cancelling) runs whose claim is dead: its lease (``heartbeat_at``, renewed every
      RUN_LEASE_SECONDS / 3 while the worker lives) ran out, or its worker process is known to be gone (same
      machine). They are queued again (a cancelling one is cancelled), or failed with ``worker_lost`` after
      MAX_CLAIMS claims.
    """
    now = now or timezone.now()
    # When the broker's run queue is empty, a run queued for a few seconds has no message left anywhere a
    # worker would find it (a broker restarted without persistence, a killed worker's prefetched message):
    # send it again soon. Otherwise wait RUN_REQUEUE_SECONDS, so a backlog is not sent twice.
    wait = RUN_REQUEUE_EMPTY_SECONDS if queue_length(RUNS_QUEUE) == 0 else settings.RUN_REQUEUE_SECONDS
    requeue = now - timedelta(seconds=wait)
    redispatched = 0
    lost_queued = Run.objects.filter(
        status=RunStatus.QUEUED, enqueued_at__lt=requeue, expires_at__gt=now, remote_project__isnull=True
    )
    for run_id in list(lost_queued.values_list("id", flat=True)[:500]):
        with transaction.atomic():
            if Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, enqueued_at__lt=requeue).update(enqueued_at=now):
                task_send(RUN_EXECUTE, run_id)
                redispatched += 1
    lease_over = now - timedelta(seconds=settings.RUN_LEASE_SECONDS)
    here = _worker_host()
    held = Run.objects.filter(
        Q(heartbeat_at__lt=lease_over) | Q(heartbeat_at__isnull=True) | Q(claimed_by__startswith=f"{here}/"),
        status__in=[RunStatus.IN_PROGRESS, RunStatus.CANCELLING],
        remote_project__isnull=True,
    )
    for run in list(held.only("id", "status", "attempts", "thread_id", "claimed_by", "heartbeat_at")[:500]):
        if not claim_is_dead(run.claimed_by, run.heartbeat_at, now):
            continue
        with transaction.atomic():
            if run.status == RunStatus.CANCELLING:
                if run_transition(run.id, [RunStatus.CANCELLING], RunStatus.CANCELLED, cancelled_at=now):
                    run_steps_close(run.id, RunStep.Status.CANCELLED, now)
                    thread_run_touch(run.thread_id, RunStatus.CANCELLED, now)
            elif run.attempts >= MAX_CLAIMS:
                _fail(run.id, run.thread_id, "worker_lost", "The worker processing this run stopped responding.")
            elif Run.objects.filter(pk=run.id, status=RunStatus.IN_PROGRESS, claimed_by=run.claimed_by).update(
                status=RunStatus.QUEUED, enqueued_at=now, claimed_by=""
            ):
                logger.warning("run %s lost its worker (%s); dispatching it again", run.id, run.claimed_by)
                task_send(RUN_EXECUTE, run.id)
                redispatched += 1
    return redispatched


# --- claims ------------------------------------------------------------------------------------------------

_TOKENS: dict[int, str] = {}


def _worker_host() -> str:
    """This machine and process namespace: process ids mean the same thing to every process that shares it."""
    try:
        boot = open("/proc/sys/kernel/random/boot_id").read().strip()[:8]  # noqa: SIM115, PTH123 - tiny read
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        boot, namespace = "", 0
    return f"{socket.gethostname()}:{boot}:{namespace}"


def worker_token() -> str:
    """This process's claim token, ``<host>/<pid>/<nonce>``; the nonce tells a recycled process id apart."""
    pid = os.getpid()
    if pid not in _TOKENS:
        _TOKENS[pid] = f"{_worker_host()}/{pid}/{secrets.token_hex(4)}"
    return _TOKENS[pid]


def claim_is_dead(token: str, heartbeat_at: datetime | None, now: datetime) -> bool:
    """True when the worker holding a claim is gone: its lease ran out, or it ran on this machine and its
    process no longer exists. A claim held on another machine is trusted until its lease runs out."""
    if heartbeat_at is None or heartbeat_at < now - timedelta(seconds=settings.RUN_LEASE_SECONDS):
        return True
    host, _, rest = token.partition("/")
    pid = rest.partition("/")[0]
    if host != _worker_host() or not pid.isdigit():
        return False
    if token == worker_token():
        # This process holds it: dead only if no run_execute here is working on it (an earlier attempt raised
        # and its task is being retried).
        return not _RENEWER.claims
    return not _process_alive(int(pid))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not reaped yet is a zombie: gone all the same
        return open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] != "Z"  # noqa: SIM115, PTH123
    except OSError:
        return True


# --- execution (in the worker) ----------------------------------------------------------------------------


def run_claim(run_id: str) -> bool:
    """queued -> in_progress, under this process's claim token. True for exactly one caller.

    A run still in progress under a dead claim (its worker was killed and the broker redelivered the task) is
    taken over at once; a redelivered task for a run whose worker lives, or that has ended, gets False.
    """
    now = timezone.now()
    token = worker_token()
    claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, expires_at__gt=now, remote_project=None).update(
        status=RunStatus.IN_PROGRESS, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1, claimed_by=token
    )
    if claimed:
        run_changed(run_id)
        return True
    held = (
        Run.objects.filter(pk=run_id, status=RunStatus.IN_PROGRESS, expires_at__gt=now, remote_project=None)
        .values("claimed_by", "heartbeat_at", "attempts", "thread_id")
        .first()
    )
    if held is None or not claim_is_dead(held["claimed_by"], held["heartbeat_at"], now):
        return False
    if held["attempts"] >= MAX_CLAIMS:
        _fail(run_id, held["thread_id"], "worker_lost", "The worker processing this run stopped responding.")
        return False
    taken = Run.objects.filter(pk=run_id, status=RunStatus.IN_PROGRESS, claimed_by=held["claimed_by"]).update(
        heartbeat_at=now, attempts=F("attempts") + 1, claimed_by=token
    )
    if taken:
        logger.warning("run %s: its worker (%s) is gone; taking it over", run_id, held["claimed_by"])
    return bool(taken)


def run_execute(*, run_id: str) -> None:
    """Do one turn of a run: claim it, call the model, then complete, pause for tools, or fail.

    Idempotent: a run that is not queued (nor held by a dead worker) is left alone. Whatever goes wrong ends
    the run (failed with a reason, or cancelled/expired); nothing escapes to crash the worker.
    """
    if not run_claim(run_id):
        logger.info("run %s is not queued; nothing to do", run_id)
        return
    run = _run_for_execute(run_id)
    stream = _Stream(run, tool_turns=run.answered_tool_calls or run.answers_earlier_run)
    if run.attempts > 1:
        # An earlier attempt may have streamed part of an answer before its worker died: this one continues
        # that message (replacing its text) and its step instead of leaving them behind next to new ones.
        stream.message = Message.objects.filter(
            run_id=run.id, role=Message.Role.ASSISTANT, status=Message.Status.IN_PROGRESS
        ).first()
        if stream.message is not None:
            stream.step = RunStep.objects.filter(
                run_id=run.id, type=RunStep.Type.MESSAGE_CREATION, status=RunStep.Status.IN_PROGRESS
            ).first()
    _RENEWER.hold(run.id, run.claimed_by)
    try:
        _execute(run, stream)
    finally:
        _RENEWER.release(run.id)
    _SETTLER.ran()


def _run_for_execute(run_id: str) -> Run:
    """The claimed run with its thread and chosen connection, and whether it has answered tool calls to show the
    model (read in the same statement, so a run that has none, most of them, skips that read)."""
    return (
        Run.objects.select_related("thread")
        .annotate(
            answered_tool_calls=Exists(
                RunStep.objects.filter(
                    run_id=OuterRef("pk"), type=RunStep.Type.TOOL_CALLS, status=RunStep.Status.COMPLETED
                )
            ),
            answers_earlier_run=Exists(Response.objects.filter(run_id=OuterRef("pk"), answers_run__isnull=False)),
        )
        .get(pk=run_id)
    )


def _execute(run: Run, stream: _Stream) -> None:
    recorder = RunRecorder(run)
    recorder.queued(since=max(run.enqueued_at or run.created_at, run.created_at), until=run.started_at)
    try:
        reply = _call_model(run, stream, recorder)
        reply = _hosted_tools_run(run, reply, stream, recorder)
        _finish(run, reply, stream, recorder)
    except Cancelled:
        recorder.close_open_call(RunSpan.Status.CANCELLED)
        _stop(run, stream, recorder)
    except ProviderError as exc:
        logger.info("run %s failed: %s %s", run.id, exc.code, exc.message)
        _fail(run.id, run.thread_id, exc.code, exc.message, stream=stream, recorder=recorder)
    except SoftTimeLimitExceeded:
        _fail(
            run.id,
            run.thread_id,
            "timeout",
            "The run took longer than the worker's time limit.",
            stream=stream,
            recorder=recorder,
        )
    except Exception:
        logger.exception("run %s crashed", run.id)
        _fail(
            run.id,
            run.thread_id,
            "server_error",
            "The run failed because of an internal error.",
            stream=stream,
            recorder=recorder,
        )
    finally:
        recorder.flush()


class _LeaseRenewer:
    """One daemon thread per worker process renews the claims of the runs the process is executing, every
    RUN_LEASE_SECONDS / 3, so a model call that streams nothing for minutes still shows a live worker and a dead
    worker's lease runs out within RUN_LEASE_SECONDS. Started on first use (after the pool forked), so a run
    answered in milliseconds costs no thread start."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.claims: dict[str, str] = {}
        self.pid = 0

    def hold(self, run_id: str, token: str) -> None:
        with self.lock:
            self.claims[run_id] = token
            if self.pid != os.getpid():  # first use in this process (a forked pool process inherits no thread)
                self.pid = os.getpid()
                threading.Thread(target=self._run, daemon=True, name="run-lease").start()

    def release(self, run_id: str) -> None:
        with self.lock:
            self.claims.pop(run_id, None)

    def _run(self) -> None:
        while True:
            time.sleep(settings.RUN_LEASE_SECONDS / LEASE_RENEWALS_PER_PERIOD)
            with self.lock:
                held = list(self.claims.items())
            try:
                for run_id, token in held:
                    Run.objects.filter(
                        pk=run_id, status__in=[RunStatus.IN_PROGRESS, RunStatus.CANCELLING], claimed_by=token
                    ).update(heartbeat_at=timezone.now())
            except Exception:
                logger.warning("could not renew the lease of runs %s", [r for r, _ in held], exc_info=True)
            finally:
                connection.close()


_RENEWER = _LeaseRenewer()


class _Settler:
    """A worker process settles the runs finished since its last settle (their usage rollups and spans, a batch
    in one transaction: services/usage.runs_settle) once RUN_SETTLE_BATCH of its runs have ended or the first of
    them ended RUN_SETTLE_SECONDS ago; beat's run sweep settles the rest every few seconds. Settling takes every
    finished run still unsettled, not only this process's."""

    def __init__(self) -> None:
        self.ended = 0
        self.since = 0.0

    def ran(self) -> None:
        if not self.ended:
            self.since = time.monotonic()
        self.ended += 1
        if self.ended < settings.RUN_SETTLE_BATCH and time.monotonic() - self.since < settings.RUN_SETTLE_SECONDS:
            return
        self.ended = 0
        try:
            runs_settle(batches=1)
        except Exception:  # beat's sweep settles them later; never fail the task for it
            logger.warning("could not settle finished runs", exc_info=True)


_SETTLER = _Settler()


def _call_model(run: Run, stream: _Stream, recorder: RunRecorder) -> ModelReply:
    prepared = time.monotonic()
    provider, connection = provider_with_connection(
        project_id=run.thread.project_id, model=run.model, connection=run.connection
    )
    # Leave room in the window for the answer the run allows.
    context = max(provider.context_window - (run.max_completion_tokens or 0), 1)
    built = model_input(run, context_tokens=context, tool_turns=stream.tool_turns)
    if not getattr(provider, "accepts_images", True) and any(m.images for m in built.messages):
        where = f"connection '{connection.name}'" if connection is not None else "this service"
        raise PermanentProviderError(
            "model_cannot_take_images",
            f"The model '{run.model}' on {where} does not take images, and the thread has some; "
            "use a model that does (the connection's 'Takes images' setting) or send text only.",
        )
    request = ModelRequest(
        model=run.model,
        messages=built.messages,
        tools=tools.model_tools(run.tools).definitions,
        temperature=run.temperature,
        top_p=run.top_p,
        max_completion_tokens=run.max_completion_tokens,
        response_format=run.response_format,
        tool_choice=run.tool_choice,
        parallel_tool_calls=run.parallel_tool_calls,
    )
    call = recorder.model_call(
        request=request,
        connection=connection,
        deployment=connection.deployment_for(run.model) if connection is not None else None,
        truncation=_truncation(built),
        turn=1 + sum(1 for m in built.messages if m.role == "assistant" and m.tool_calls),
        context_ms=int((time.monotonic() - prepared) * 1000),
    )
    checkpoint = call.watch(stream.checkpoint)
    attempt = 0
    while True:
        attempt += 1
        try:
            reply = provider.complete(request, checkpoint)
        except TransientProviderError as exc:
            delay = _backoff(attempt, exc.retry_after)
            budget = (run.expires_at - timezone.now()).total_seconds()
            if attempt >= MAX_PROVIDER_ATTEMPTS or delay >= budget:
                raise
            logger.info("run %s: %s, retrying in %.1fs", run.id, exc.code, delay)
            call.retry(exc, delay, attempt)
            stream.sleep(delay)
            call.next_attempt()
            continue
        call.finish(reply)
        return reply


def _truncation(built: ModelInput) -> dict[str, Any]:
    """What truncation did to the thread for this call, for the trace."""
    return {
        "strategy": built.strategy,
        "dropped": built.dropped,
        "reason": built.reason or None,
        "kept": built.kept,
        "budget_tokens": built.budget_tokens,
    }


def _hosted_tools_run(run: Run, reply: ModelReply, stream: _Stream, recorder: RunRecorder) -> ModelReply:
    """Answer the calls of hosted tools (OpenAPI, connected agents) here, each round a completed tool_calls step,
    and ask the model again, until it answers or calls only function tools (left for ``_finish``)."""
    hosted = tools.model_tools(run.tools).hosted
    rounds = 0
    while any(call.name in hosted for call in reply.tool_calls):
        rounds += 1
        if rounds > MAX_HOSTED_TOOL_ROUNDS:
            raise PermanentProviderError(
                "tool_loop", f"The model kept calling tools for {MAX_HOSTED_TOOL_ROUNDS} rounds without answering."
            )
        started = timezone.now()
        entries: list[dict[str, Any]] = []
        for call in reply.tool_calls:
            if call.name in hosted:
                began = timezone.now()
                entries.append(_hosted_call(run, hosted[call.name], call, stream))
                _hosted_span(recorder, entries[-1], began)
                if entries[-1]["type"] == "file_search":
                    stream.searches += 1
        _usage_add(run, reply)
        stream.tool_turns = True
        RunStep.objects.create(
            run=run,
            thread_id=run.thread_id,
            type=RunStep.Type.TOOL_CALLS,
            status=RunStep.Status.COMPLETED,
            step_details={"type": "tool_calls", "tool_calls": entries},
            completed_at=timezone.now(),
            prompt_tokens=reply.usage.prompt_tokens,
            completion_tokens=reply.usage.completion_tokens,
        )
        run_changed(run.id)
        logger.info(
            "run %s: %d hosted tool calls in %.2fs", run.id, len(entries), (timezone.now() - started).total_seconds()
        )
        functions = tuple(call for call in reply.tool_calls if call.name not in hosted)
        if functions:
            # Function calls made alongside: the run waits for their outputs as usual.
            return replace(reply, tool_calls=functions, usage=Usage())
        stream.checkpoint(stream.text)
        reply = _call_model(run, stream, recorder)
    return reply


def _hosted_span(recorder: RunRecorder, entry: dict[str, Any], started: datetime) -> None:
    """A hosted tool call in the run's trace: what was asked, what came back, and (connected agents) the child."""
    body = entry.get(entry["type"]) or {}
    output = str(body.get("output") or "")
    attributes = {
        "call_id": entry["id"],
        "type": entry["type"],
        "arguments": str(body.get("arguments") or "")[:4000],
        "output": output[:4000],
        "output_omitted_chars": max(len(output) - 4000, 0),
    }
    for key in ("agent_id", "thread_id", "run_id"):
        if body.get(key):
            attributes[key] = body[key]
    recorder.add(
        kind=RunSpan.Kind.TOOL_CALL,
        name=str(body.get("name") or entry["type"]),
        status=RunSpan.Status.ERROR if output.startswith("error:") else RunSpan.Status.OK,
        started_at=started,
        ended_at=timezone.now(),
        attributes=attributes,
    )


def _usage_add(run: Run, reply: ModelReply) -> None:
    """Count a model call whose answer was hosted tool calls in the run's usage (``_finish`` adds the last)."""
    run.prompt_tokens = (run.prompt_tokens or 0) + reply.usage.prompt_tokens
    run.completion_tokens = (run.completion_tokens or 0) + reply.usage.completion_tokens
    run.total_tokens = run.prompt_tokens + run.completion_tokens
    Run.objects.filter(pk=run.pk).update(
        prompt_tokens=run.prompt_tokens, completion_tokens=run.completion_tokens, total_tokens=run.total_tokens
    )


def _hosted_call(run: Run, fn: tools.HostedFunction, call: ToolCall, stream: _Stream) -> dict[str, Any]:
    if fn.kind == "openapi":
        return tools.openapi_call(fn, call, project_id=run.thread.project_id)
    if fn.kind == "file_search":
        if stream.searches < 0:
            stream.searches = tools.file_searches_done(run.id)
        store_ids = tools.run_vector_stores(run)
        # As the service does, a search waits for files still being indexed (attached a moment ago, say).
        waited = 0.0
        while not stores_ready(store_ids) and waited < FILE_SEARCH_WAIT_SECONDS:
            stream.sleep(0.5)
            waited += 0.5
        return tools.file_search_call(fn, call, store_ids=store_ids, search=stream.searches)
    return _connected_agent_call(run, fn, call, stream)


def _connected_agent_call(run: Run, fn: tools.HostedFunction, call: ToolCall, stream: _Stream) -> dict[str, Any]:
    """Run the connected agent on a new thread of the project with the task the model gave it, and hand its
    answer back as the call's output. The child thread and run are named in the step, so the trace shows them."""
    agent_id = fn.tool["connected_agent"]["id"]

    def entry(output: str, child: Run | None = None) -> dict[str, Any]:
        return tools.connected_agent_entry(
            fn, call, output=output, agent_id=agent_id,
            thread_id=child.thread_id if child else None, run_id=child.id if child else None,
        )  # fmt: skip

    agent = Agent.objects.filter(pk=agent_id, project_id=run.thread.project_id).first()
    if agent is None:
        return entry(f"error: the connected agent '{agent_id}' no longer exists.")
    if _connected_depth(run) >= settings.CONNECTED_AGENT_MAX_DEPTH:
        return entry(f"error: connected agents may call each other at most {settings.CONNECTED_AGENT_MAX_DEPTH} deep.")
    origin = {"connected_from_run": run.id}
    child_thread = thread_create(
        project=run.thread.project,
        metadata=origin,
        messages=[{"role": "user", "content": tools.connected_agent_input(call)}],
    )
    child = run_create(thread=child_thread, agent=agent, options=RunOptions(metadata=origin))
    # Executed here, so a single worker never waits on itself; if another worker claimed it first, wait for it.
    run_execute(run_id=child.id)
    while True:
        child.refresh_from_db()
        if child.status in TERMINAL_RUN_STATUSES or child.status == RunStatus.REQUIRES_ACTION:
            break
        stream.sleep(CHECKPOINT_INTERVAL)
    if child.status == RunStatus.REQUIRES_ACTION:
        run_cancel(run=child)
        return entry(f"error: the connected agent '{agent.name or agent.id}' asked for function outputs.", child)
    if child.status != RunStatus.COMPLETED:
        reason = (child.last_error or {}).get("message") or child.status
        return entry(f"error: the connected agent's run ended {child.status}: {reason}", child)
    reply = (
        Message.objects.filter(run=child, role=Message.Role.ASSISTANT).order_by("-seq").values_list("text", flat=True)
    )
    return entry(reply.first() or "", child)


def _connected_depth(run: Run) -> int:
    """How many connected-agent calls led to this run."""
    depth = 0
    metadata = run.metadata or {}
    while (parent := metadata.get("connected_from_run")) and depth <= settings.CONNECTED_AGENT_MAX_DEPTH:
        depth += 1
        metadata = Run.objects.filter(pk=parent).values_list("metadata", flat=True).first() or {}
    return depth


def _backoff(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, capped; a server's Retry-After wins when it asks for longer."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)


@dataclass
class _Stream:
    """The worker's side of a run in flight: heartbeats, cancel checks and the streamed assistant message."""

    run: Run
    message: Message | None = None
    # The message-creation step, written with the first streamed text (created just before the message).
    step: RunStep | None = None
    last_flush: float = 0.0
    text: str = ""
    # The message's text the streams were handed so far (by the checkpoint that made the message, then by notices).
    published: str = ""
    # File searches this run has made (their citation markers are numbered); -1 until first counted.
    searches: int = -1
    # Whether the run has answered tool calls the model must be shown (False: the thread's messages suffice).
    tool_turns: bool = True

    def checkpoint(self, text: str) -> None:
        """Hand open streams what the model added at once (a text notice, once the message exists); at most every
        RUN_CHECKPOINT_SECONDS, write the text so far with one statement that also notices a cancel or expiry (the
        write is conditional on the run still being in progress). The lease thread, not this, keeps the
        heartbeat."""
        self.text = text
        if self.message is not None and text != self.published:
            self._publish(text)
        if time.monotonic() - self.last_flush < settings.RUN_CHECKPOINT_SECONDS:
            return
        self.last_flush = time.monotonic()
        if not text or self.message is None:
            with transaction.atomic():
                if not Run.objects.filter(pk=self.run.id, status=RunStatus.IN_PROGRESS).exists():
                    raise Cancelled()
                if text:
                    self._message_start(text)
                    run_changed(self.run.id)
            return
        written = Message.objects.filter(
            pk=self.message.pk, status=Message.Status.IN_PROGRESS, run__status=RunStatus.IN_PROGRESS
        ).update(content=[{"type": "text", "text": {"value": text, "annotations": []}}], text=text)
        if not written:
            raise Cancelled()
        run_changed(self.run.id)

    def _publish(self, text: str) -> None:
        # What continues the text published so far goes as a piece; a text that does not (a retried model call
        # starts again) goes whole, from the start, and a stream that has shown more than it agrees with ignores it.
        offset = len(self.published) if text.startswith(self.published) else 0
        self.published = text
        assert self.message is not None
        text_produced(self.run.id, message_id=self.message.id, offset=offset, text=text[offset:])

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, CHECKPOINT_INTERVAL))
            self.last_flush = 0.0
            self.checkpoint(self.text)

    def _message_start(self, text: str) -> None:
        """The step and its message appear together (one transaction, the caller's), the step dated first, as
        the service does: a stream shows step.created, then message.created and its deltas."""
        step_created = timezone.now()
        # The thread list shows the run working from its first streamed words on (a run answered in one piece
        # goes straight from queued to its final status there).
        self.message = _reply_create(
            self.run, text, status=Message.Status.IN_PROGRESS, run_status=RunStatus.IN_PROGRESS, now=step_created
        )
        self.published = text
        self.step = RunStep.objects.create(
            run=self.run,
            thread_id=self.run.thread_id,
            type=RunStep.Type.MESSAGE_CREATION,
            step_details=_message_creation(self.message.id),
            created_at=step_created,
        )


def _message_creation(message_id: str) -> dict[str, Any]:
    return {"type": "message_creation", "message_creation": {"message_id": message_id}}


def _finish(run: Run, reply: ModelReply, stream: _Stream, recorder: RunRecorder) -> None:
    """Write what the model answered and move the run on; if someone else moved it first, write nothing."""
    now = timezone.now()
    usage = {
        "prompt_tokens": (run.prompt_tokens or 0) + reply.usage.prompt_tokens,
        "completion_tokens": (run.completion_tokens or 0) + reply.usage.completion_tokens,
    }
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    step_usage = {
        "prompt_tokens": reply.usage.prompt_tokens,
        "completion_tokens": reply.usage.completion_tokens,
    }
    with transaction.atomic():
        if reply.tool_calls:
            calls: list[dict[str, Any]] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.tool_calls
            ]
            required = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
            # The step's calls carry "output": null until outputs are submitted, as the service's do.
            step_calls = [{**c, "function": {**c["function"], "output": None}} for c in calls]
            if Response.objects.filter(run_id=run.id).exists():
                _complete_with_calls(run, step_calls, usage, step_usage, now)
                recorder.flush()
                transaction.on_commit(lambda: run_ended(run.id))
                return
            if not run_transition(
                run.id, [RunStatus.IN_PROGRESS], RunStatus.REQUIRES_ACTION, required_action=required, **usage
            ):
                raise Cancelled()
            RunStep.objects.create(
                run=run,
                thread_id=run.thread_id,
                type=RunStep.Type.TOOL_CALLS,
                step_details={"type": "tool_calls", "tool_calls": step_calls},
                **step_usage,
            )
            thread_run_touch(run.thread_id, RunStatus.REQUIRES_ACTION, now)
            recorder.flush()
            return
        incomplete = reply.finish_reason == "length"
        status = RunStatus.INCOMPLETE if incomplete else RunStatus.COMPLETED
        extra: dict[str, Any] = {"completed_at": now, **usage}
        if incomplete:
            extra["incomplete_details"] = {"reason": "max_completion_tokens"}
        # The trace goes in the same UPDATE, and the usage rollups are left to the next settle (runs_settle):
        # both are written for a batch of runs at once, outside this transaction.
        if not run_transition(
            run.id, [RunStatus.IN_PROGRESS], status, settle_later=True, trace_pending=recorder.pending(), **extra
        ):
            raise Cancelled()
        recorder.handed_over()
        # The step is created before its message and completed after it.
        step_created = timezone.now()
        message = _message_final(run, stream, reply.text, now, status=status)
        if stream.searches > 0 or (
            stream.searches < 0 and any(t.get("type") == "file_search" for t in run.tools or [])
        ):
            # In the transaction that completes the run: a client that reads the run completed reads its
            # answer's file_citation annotations with it, never the bare markers first.
            tools.answer_cite(run.id, message.pk)
        step_done = {"status": RunStep.Status.COMPLETED, "completed_at": timezone.now(), **step_usage}
        if stream.step is not None:
            RunStep.objects.filter(pk=stream.step.pk).update(**step_done)
        else:
            RunStep.objects.create(
                run=run,
                thread_id=run.thread_id,
                type=RunStep.Type.MESSAGE_CREATION,
                step_details=_message_creation(message.id),
                created_at=step_created,
                **step_done,
            )
        recorder.flush()
    run_ended(run.id)


def _complete_with_calls(
    run: Run, step_calls: list[dict[str, Any]], usage: dict[str, int], step_usage: dict[str, int], now: datetime
) -> None:
    """A v2 response ends with its function calls (status completed): the caller answers them with a new
    response carrying ``function_call_output`` items, which becomes the next run (services/responses.py). The
    step records the calls; the outputs are written into it when that response arrives."""
    if not run_transition(run.id, [RunStatus.IN_PROGRESS], RunStatus.COMPLETED, held=run, completed_at=now, **usage):
        raise Cancelled()
    RunStep.objects.create(
        run=run,
        thread_id=run.thread_id,
        type=RunStep.Type.TOOL_CALLS,
        status=RunStep.Status.COMPLETED,
        step_details={"type": "tool_calls", "tool_calls": step_calls},
        completed_at=now,
        **step_usage,
    )
    thread_run_touch(run.thread_id, RunStatus.COMPLETED, now)


def _agent_present(run: Run) -> Subquery | None:
    """The run's agent, for its reply's ``assistant_id``, while it exists: looked up inside the message's INSERT,
    so an agent deleted while the run worked is not named. A run outlives the deletion of its agent: it goes on
    with the definition it recorded (``agent_ref``, ``agent_version``), and its reply, like every message of a
    deleted agent, names none."""
    if run.agent_id is None:
        return None
    return Subquery(Agent.objects.filter(pk=run.agent_id).order_by().values("pk"))


def _reply_create(run: Run, text: str, *, status: str, run_status: str, now: datetime) -> Message:
    """Insert the run's assistant message, moving the thread's count, last activity and last run status in one
    UPDATE. No other message joins a thread while its run is active, so the message takes the place after the
    count read with the run; the UPDATE is conditional on that count, and should it have moved all the same the
    store's ``message_create`` (which reads the count back) does the insert."""
    thread = run.thread
    count = thread.message_count
    moved = thread.remote_project_id is None and Thread.objects.filter(
        pk=thread.pk, message_count=count, message_count__lt=settings.MAX_MESSAGES_PER_THREAD
    ).update(message_count=count + 1, last_activity_at=now, last_run_status=run_status)
    if not moved:
        message = message_create(
            thread=thread, role=Message.Role.ASSISTANT, content=text or " ", agent_id=run.agent_id, run=run,
            status=status,
        )  # fmt: skip
        if status == Message.Status.INCOMPLETE:
            Message.objects.filter(pk=message.pk).update(incomplete_details={"reason": "max_tokens"})
        thread_run_touch(thread.pk, run_status, now)
        return message
    parts, plain = validation.validate_content(text or " ")
    thread.message_count, thread.last_activity_at = count + 1, now
    message = Message.objects.create(
        thread=thread,
        seq=count + 1,
        role=Message.Role.ASSISTANT,
        content=parts,
        text=plain,
        agent_id=_agent_present(run),
        run=run,
        status=status,
        incomplete_details={"reason": "max_tokens"} if status == Message.Status.INCOMPLETE else None,
        completed_at=now if status == Message.Status.COMPLETED else None,
    )
    return message


def _message_final(run: Run, stream: _Stream, text: str, now: datetime, *, status: str) -> Message:
    """The run's answer, with its final status: inserted (with the thread's columns), or the streamed message
    completed (and the thread's columns touched)."""
    message_status = Message.Status.INCOMPLETE if status == RunStatus.INCOMPLETE else Message.Status.COMPLETED
    if stream.message is None:
        return _reply_create(run, text, status=message_status, run_status=status, now=now)
    Message.objects.filter(pk=stream.message.pk).update(
        content=[{"type": "text", "text": {"value": text, "annotations": []}}],
        text=text,
        status=message_status,
        incomplete_details={"reason": "max_tokens"} if status == RunStatus.INCOMPLETE else None,
        completed_at=now,
    )
    thread_run_touch(run.thread_id, status, now)
    return stream.message


def _stop(run: Run, stream: _Stream, recorder: RunRecorder | None = None) -> None:
    """The run was cancelled or expired under the worker: finish a pending cancel and close the leftovers."""
    now = timezone.now()
    with transaction.atomic():
        if recorder is not None:
            recorder.flush()
        if run_transition(run.id, [RunStatus.CANCELLING], RunStatus.CANCELLED, cancelled_at=now):
            run_steps_close(run.id, RunStep.Status.CANCELLED, now)
            thread_run_touch(run.thread_id, RunStatus.CANCELLED, now)
        current = Run.objects.values_list("status", flat=True).get(pk=run.id)
        reason = {"cancelled": "run_cancelled", "expired": "run_expired"}.get(current, "run_failed")
        Message.objects.filter(run_id=run.id, status=Message.Status.IN_PROGRESS).update(
            status=Message.Status.INCOMPLETE, incomplete_details={"reason": reason}
        )
    run_ended(run.id)


def _fail(
    run_id: str,
    thread_id: str,
    code: str,
    message: str,
    *,
    stream: _Stream | None = None,
    recorder: RunRecorder | None = None,
) -> None:
    now = timezone.now()
    if recorder is not None:
        recorder.close_open_call(RunSpan.Status.ERROR, code=code, message=message)
    with transaction.atomic():
        if recorder is not None:
            recorder.flush()
        failed = run_transition(
            run_id,
            [RunStatus.IN_PROGRESS, RunStatus.QUEUED],
            RunStatus.FAILED,
            failed_at=now,
            last_error={"code": code, "message": message},
            required_action=None,
        )
        if failed:
            run_steps_close(run_id, RunStep.Status.FAILED, now, last_error={"code": code, "message": message})
            thread_run_touch(thread_id, RunStatus.FAILED, now)
    if not failed and stream is not None:
        _stop(stream.run, stream)
    elif failed:
        run_ended(run_id)


def message_send(*, thread: Thread, content: Any, agent: Agent | None = None, actor: Actor = None) -> Run | None:
    """The console composer: add a user message and, with ``agent``, run it ("Send and run"). A thread with an
    active run refuses the pair before the message is written (Conflict), so nothing is half done."""
    if agent is not None and Run.objects.filter(thread=thread, status__in=ACTIVE_RUN_STATUSES).exists():
        raise Conflict("A run is still active on this thread; wait for it or cancel it.", param="agent")
    message_create(thread=thread, role="user", content=content)
    return run_create(thread=thread, agent=agent, actor=actor) if agent is not None else None
