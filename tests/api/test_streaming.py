"""Server-sent event framing the Azure SDK can parse: LF-separated events, one data line each, done last."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from agents_admin.api.streaming import _Watcher, event_stream
from agents_admin.lib import run_events
from agents_admin.models import Message, Run, RunStep
from agents_admin.services.runs import worker_token
from agents_admin.services.threads import message_create
from tests.factories import make_run


def body_of(response: Any) -> str:
    """The whole body of a (finished) run's stream, read as the ASGI server reads it (its looks at the store are
    made on other threads: the tests commit what they write, transactional_db)."""

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)().decode()


def test_a_finished_run_streams_its_message_and_ends_with_done(transactional_db: None) -> None:
    run = make_run(text="hi")
    message = message_create(
        thread=run.thread, role="assistant", content="Hello there", run=run, agent_id=run.agent_ref
    )
    RunStep.objects.create(
        run=run,
        thread=run.thread,
        type="message_creation",
        status="completed",
        step_details={"type": "message_creation", "message_creation": {"message_id": message.id}},
        completed_at=timezone.now(),
    )
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(status="completed", started_at=now, completed_at=now)
    response = event_stream(run.id)
    assert response["Content-Type"] == "text/event-stream"
    body = body_of(response)
    assert "\r" not in body and body.endswith("event: done\ndata: [DONE]\n\n")
    events = [chunk.split("\n") for chunk in body.strip("\n").split("\n\n")]
    assert all(len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: ") for lines in events)
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
        "done",
    ]
    delta = json.loads(events[7][1].removeprefix("data: "))
    assert delta["delta"]["content"][0]["text"]["value"] == "Hello there"
    assert json.loads(events[8][1].removeprefix("data: "))["status"] == Message.Status.COMPLETED


def test_a_resumed_stream_tells_what_came_after_the_outputs_even_if_the_run_finished_first(
    transactional_db: None,
) -> None:
    """The worker may finish the run before the stream of submit_tool_outputs begins: everything after the
    submission is still news, the tool-call step's completion first."""
    run = make_run(text="hi")
    asked = timezone.now()
    tool_step = RunStep.objects.create(
        run=run, thread=run.thread, type="tool_calls", status="completed", created_at=asked,
        step_details={"type": "tool_calls", "tool_calls": []},
    )  # fmt: skip
    submitted = timezone.now()
    RunStep.objects.filter(pk=tool_step.pk).update(completed_at=submitted)
    message = message_create(thread=run.thread, role="assistant", content="Done", run=run, agent_id=run.agent_ref)
    RunStep.objects.create(
        run=run, thread=run.thread, type="message_creation", status="completed", completed_at=timezone.now(),
        step_details={"type": "message_creation", "message_creation": {"message_id": message.id}},
    )  # fmt: skip
    Run.objects.filter(pk=run.pk).update(
        status="completed", enqueued_at=submitted, started_at=timezone.now(), completed_at=timezone.now()
    )
    body = body_of(event_stream(run.id, resumed=True))
    names = [chunk.split("\n")[0].removeprefix("event: ") for chunk in body.strip("\n").split("\n\n")]
    assert names == [
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.completed",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
        "done",
    ]


def test_a_poll_that_reads_around_a_commit_keeps_the_step_after_its_message(transactional_db: None) -> None:
    """A stream reads the messages, then the steps: a worker's commit in between shows the message-creation step
    finished while its message (read earlier) is not. The step's end waits for the message's, on a fresh poll."""
    run = make_run(text="hi")
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(status="in_progress", started_at=now)
    message = message_create(
        thread=run.thread, role="assistant", content="Hel", run=run, agent_id=run.agent_ref, status="in_progress"
    )
    step = RunStep.objects.create(
        run=run, thread=run.thread, type="message_creation", status="in_progress",
        step_details={"type": "message_creation", "message_creation": {"message_id": message.id}},
    )  # fmt: skip
    run.refresh_from_db()
    watcher = _Watcher(run, resumed=False)
    names = [chunk.split(b"\n")[0].decode() for chunk in watcher.poll(run)]
    assert names[-3:] == ["event: thread.message.created", "event: thread.message.in_progress",
                          "event: thread.message.delta"]  # fmt: skip
    # The step's end is committed, the message (as this poll read it) still in progress.
    RunStep.objects.filter(pk=step.pk).update(status="completed", completed_at=timezone.now())
    assert list(watcher.poll(run)) == [] and watcher.again
    Message.objects.filter(pk=message.pk).update(status="completed", text="Hello", completed_at=timezone.now())
    names = [chunk.split(b"\n")[0].decode() for chunk in watcher.poll(run)]
    assert names == ["event: thread.message.delta", "event: thread.message.completed",
                     "event: thread.run.step.completed"]  # fmt: skip
    assert not watcher.again


def test_text_from_notices_and_from_the_store_is_shown_once_in_order(transactional_db: None) -> None:
    """The worker hands the streams each piece of the answer in a notice, and writes the text to the store at its
    checkpoints: a stream shows a piece from whichever comes first, and a stream that missed a notice shows
    nothing after the gap until the store has the text."""
    # Claimed by this process as it is made, so a worker left running by an earlier test never answers it.
    with transaction.atomic():
        run = make_run(text="hi")
        now = timezone.now()
        Run.objects.filter(pk=run.pk).update(
            status="in_progress", started_at=now, heartbeat_at=now, claimed_by=worker_token()
        )
    message = message_create(
        thread=run.thread, role="assistant", content="One", run=run, agent_id=run.agent_ref, status="in_progress"
    )
    run.refresh_from_db()
    watcher = _Watcher(run, resumed=False)
    shown: list[str] = []

    def deltas(chunks: Any) -> list[str]:
        found = []
        for chunk in chunks:
            name, data = chunk.decode().strip("\n").split("\n")
            if name == "event: thread.message.delta":
                found.append(json.loads(data.removeprefix("data: "))["delta"]["content"][0]["text"]["value"])
        shown.extend(found)
        return found

    def notice(offset: int, text: str) -> run_events.TextNotice:
        return run_events.TextNotice(message.id, offset, text)

    # A notice for a message the stream has not shown yet is left to the store.
    assert deltas(watcher.text([run_events.TextNotice("msg_other", 0, "x")])) == []
    assert deltas(watcher.poll(run)) == ["One"]
    assert deltas(watcher.text([notice(3, " two"), notice(7, " three")])) == [" two", " three"]
    # Already shown (a notice repeated, or one a stream saw after the store's text): nothing.
    assert deltas(watcher.text([notice(3, " two")])) == []
    # " four" is missed: " five" waits for the store.
    assert deltas(watcher.text([notice(18, " five")])) == []
    Message.objects.filter(pk=message.pk).update(text="One two three four five")
    assert deltas(watcher.poll(run)) == [" four five"]
    # A notice that overlaps what was shown gives only what is new; one that disagrees with it (a model call
    # retried from the start) gives nothing.
    assert deltas(watcher.text([notice(19, "five six")])) == [" six"]
    assert deltas(watcher.text([notice(0, "Another answer that is longer than the first")])) == []
    Message.objects.filter(pk=message.pk).update(
        text="One two three four five six seven", status="completed", completed_at=timezone.now()
    )
    assert deltas(watcher.poll(run)) == [" seven"]
    # Finished: notices that come late show nothing.
    assert deltas(watcher.text([notice(33, " eight")])) == []
    assert "".join(shown) == "One two three four five six seven"
