"""Mirroring a remote project (the fake Foundry server on 127.0.0.1) into the local database."""

from __future__ import annotations

import pytest

from agents_admin.models import Agent, Message, RemoteProject, Run, RunStep, SyncRecord, Thread
from agents_admin.remote.connection import remote_client
from agents_admin.services.remote import remote_project_create, remote_sync_start
from agents_admin.services.remote_sync import remote_sync_execute
from tests.fake_foundry import FakeFoundry, Fault


@pytest.fixture(autouse=True)
def _fast_retries(settings) -> None:
    settings.REMOTE_BACKOFF_BASE_SECONDS = 0.01
    settings.REMOTE_MAX_ATTEMPTS = 3


@pytest.fixture
def remote(db: None, fake_foundry: FakeFoundry) -> RemoteProject:
    return remote_project_create(
        name="azure-east", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key
    )


def sync(remote: RemoteProject, mode: str = "full") -> SyncRecord:
    record = remote_sync_start(remote=remote, mode=mode)
    remote_sync_execute(sync_id=record.pk)
    record.refresh_from_db()
    remote.refresh_from_db()
    return record


def completed_run(fake: FakeFoundry, agent: dict, thread: dict) -> dict:
    client_run = fake.add("runs", fake._run_object(thread["id"], agent, {}))
    for _ in range(2):
        fake._advance(client_run)
    assert client_run["status"] == "completed"
    return client_run


def test_a_full_sync_mirrors_every_kind_with_remote_ids(remote: RemoteProject, fake_foundry: FakeFoundry) -> None:
    agent = fake_foundry.seed_agent(name="Support bot")
    thread = fake_foundry.seed_thread(messages=["hello", "are you there?"])
    run = completed_run(fake_foundry, agent, thread)
    record = sync(remote)
    assert record.status == "succeeded" and record.errors == []
    assert record.counts["agents"] == {"created": 1, "deleted": 0}
    assert record.counts["threads"]["created"] == 1
    assert record.counts["messages"] == {"created": 3}
    assert record.counts["runs"] == {"created": 1} and record.counts["steps"] == {"created": 1}
    local_agent = Agent.objects.get(remote_project=remote, remote_id=agent["id"])
    assert local_agent.name == "Support bot" and local_agent.project_id == remote.project_id
    local_thread = Thread.objects.get(remote_project=remote, remote_id=thread["id"])
    assert local_thread.pk != thread["id"]  # our own id; the remote one is kept beside it
    assert local_thread.message_count == 3 and local_thread.last_run_status == "completed"
    texts = list(Message.objects.filter(thread=local_thread).order_by("seq").values_list("text", flat=True))
    assert texts == ["hello", "are you there?", "Echo: are you there?"]
    local_run = Run.objects.get(remote_id=run["id"])
    assert local_run.status == "completed" and local_run.agent == local_agent and local_run.total_tokens == 15
    assert Message.objects.get(thread=local_thread, role="assistant").run == local_run
    assert RunStep.objects.get(run=local_run).type == "message_creation"
    assert remote.last_sync_at is not None and remote.last_full_sync_at is not None
    assert record.phase == "done" and record.duration_seconds is not None


def test_syncing_twice_is_the_same_as_once(remote: RemoteProject, fake_foundry: FakeFoundry) -> None:
    agent = fake_foundry.seed_agent()
    thread = fake_foundry.seed_thread(messages=["hi"])
    completed_run(fake_foundry, agent, thread)
    sync(remote)
    before = [m.objects.count() for m in (Agent, Thread, Message, Run, RunStep)]
    second = sync(remote)
    assert [m.objects.count() for m in (Agent, Thread, Message, Run, RunStep)] == before
    assert second.counts["agents"] == {"unchanged": 1, "deleted": 0}
    assert second.counts["threads"] == {"unchanged": 1, "deleted": 0}
    assert "created" not in second.counts.get("messages", {}) and "created" not in second.counts.get("runs", {})


def test_an_incremental_sync_reads_only_what_is_new(remote: RemoteProject, fake_foundry: FakeFoundry) -> None:
    thread = fake_foundry.seed_thread(messages=["one", "two"])
    sync(remote)
    last_remote_message = Message.objects.filter(thread__remote_id=thread["id"]).order_by("-seq").first()
    fake_foundry.seed_message(thread["id"], "three")
    fake_foundry.requests.clear()
    record = sync(remote, mode="incremental")
    assert record.status == "succeeded"
    assert record.counts["messages"] == {"created": 1}
    [listing] = fake_foundry.requests_to("GET", r"/threads/[^/]+/messages")
    assert listing["query"]["after"] == last_remote_message.remote_id and listing["query"]["order"] == "asc"
    local = Thread.objects.get(remote_id=thread["id"])
    assert local.message_count == 3
    assert list(Message.objects.filter(thread=local).values_list("seq", "text")) == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
    ]


def test_an_incremental_sync_stops_listing_threads_at_the_watermark(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    for i in range(150):
        fake_foundry.seed_thread(metadata={"n": str(i)})
    sync(remote)
    fake_foundry.clock += 3 * 3600  # hours later on the remote's clock ...
    from django.utils import timezone

    RemoteProject.objects.filter(pk=remote.pk).update(last_sync_at=timezone.now())
    remote.refresh_from_db()
    fake_foundry.seed_thread()
    fake_foundry.requests.clear()
    record = sync(remote, mode="incremental")
    assert record.counts["threads"]["created"] == 1
    # Newest first, 100 a page: the first page is enough to reach threads older than the last sync.
    assert len(fake_foundry.requests_to("GET", "/threads")) == 1


def test_deletions_on_the_remote_are_detected_and_marked(remote: RemoteProject, fake_foundry: FakeFoundry) -> None:
    agent = fake_foundry.seed_agent()
    kept = fake_foundry.seed_thread(messages=["keep me"])
    doomed = fake_foundry.seed_thread(messages=["delete me"])
    sync(remote)
    fake_foundry.delete_remote("threads", doomed["id"])
    fake_foundry.delete_remote("assistants", agent["id"])
    record = sync(remote)
    assert record.counts["threads"]["deleted"] == 1 and record.counts["agents"]["deleted"] == 1
    gone = Thread.objects.get(remote_id=doomed["id"])
    assert gone.remote_deleted_at is not None and gone.messages.count() == 1  # marked, not silently dropped
    assert Thread.objects.get(remote_id=kept["id"]).remote_deleted_at is None
    assert Agent.objects.get(remote_id=agent["id"]).remote_deleted_at is not None


def test_a_thread_that_404s_during_an_incremental_sync_is_marked_deleted(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    thread = fake_foundry.seed_thread(messages=["x"])
    sync(remote)
    fake_foundry.delete_remote("threads", thread["id"])
    record = sync(remote, mode="incremental")
    assert record.counts["threads"]["deleted"] == 1
    assert Thread.objects.get(remote_id=thread["id"]).remote_deleted_at is not None


def test_a_failing_thread_makes_the_sync_partial_and_a_rerun_completes_it(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    ok = fake_foundry.seed_thread(messages=["fine"])
    broken = fake_foundry.seed_thread(messages=["a", "b"])
    fake_foundry.faults.append(Fault("GET", f"/threads/{broken['id']}/messages", status=503, times=10))
    record = sync(remote)
    assert record.status == "partial"
    assert [e["where"] for e in record.errors] == [f"thread {broken['id']}"]
    assert "HTTP 503" in record.errors[0]["error"]
    assert Message.objects.filter(thread__remote_id=ok["id"]).count() == 1
    fake_foundry.faults.clear()
    again = sync(remote)
    assert again.status == "succeeded"
    assert Message.objects.filter(thread__remote_id=broken["id"]).count() == 2
    assert Message.objects.filter(thread__remote_id=ok["id"]).count() == 1


def test_a_connection_cut_while_paging_threads_is_retried(remote: RemoteProject, fake_foundry: FakeFoundry) -> None:
    for _ in range(130):
        fake_foundry.seed_thread()
    fake_foundry.faults.append(Fault("GET", "/threads", mode="cut_before", skip=1))
    record = sync(remote)
    assert record.status == "succeeded"
    assert Thread.objects.filter(remote_project=remote).count() == 130


def test_a_bad_credential_fails_the_sync_with_the_remote_error(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    fake_foundry.key = "rotated"
    record = sync(remote)
    assert record.status == "failed"
    assert "HTTP 401" in record.errors[0]["error"]
    assert remote.last_sync_at is None


def test_a_second_sync_is_refused_while_one_is_queued(remote: RemoteProject) -> None:
    from agents_admin.errors import Conflict

    remote_sync_start(remote=remote)
    with pytest.raises(Conflict):
        remote_sync_start(remote=remote)


def test_without_a_thread_listing_known_threads_are_still_synced(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    thread = fake_foundry.seed_thread(messages=["first"])
    sync(remote)
    fake_foundry.list_threads = False
    fake_foundry.seed_message(thread["id"], "second")
    record = sync(remote, mode="incremental")
    assert record.status == "partial" and record.errors[0]["where"] == "threads listing"
    assert Thread.objects.get(remote_id=thread["id"]).message_count == 2


def test_the_client_of_a_remote_project_uses_its_api_key(remote: RemoteProject, fake_foundry: FakeFoundry) -> None:
    assert "Connected" in remote_client(remote).check()


def test_the_schedule_starts_due_syncs_full_first_then_incremental(remote: RemoteProject) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from agents_admin.services.remote import remote_syncs_due

    assert remote_syncs_due() == 1
    first = SyncRecord.objects.get(remote_project=remote)
    assert first.mode == "full"
    assert remote_syncs_due() == 0  # one at a time
    now = timezone.now()
    SyncRecord.objects.filter(pk=first.pk).update(status="succeeded")
    RemoteProject.objects.filter(pk=remote.pk).update(last_sync_at=now, last_full_sync_at=now)
    assert remote_syncs_due(now=now + timedelta(minutes=30)) == 0  # not due before the interval (60 min)
    assert remote_syncs_due(now=now + timedelta(minutes=61)) == 1
    assert SyncRecord.objects.filter(remote_project=remote).latest("created_at").mode == "incremental"
    RemoteProject.objects.filter(pk=remote.pk).update(enabled=False)
    SyncRecord.objects.filter(remote_project=remote).update(status="succeeded")
    assert remote_syncs_due(now=now + timedelta(days=2)) == 0


def test_a_sync_whose_worker_vanished_is_failed_so_the_next_one_can_start(remote: RemoteProject) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from agents_admin.services.remote import remote_syncs_due

    record = remote_sync_start(remote=remote)
    long_ago = timezone.now() - timedelta(hours=1)
    SyncRecord.objects.filter(pk=record.pk).update(status="running", started_at=long_ago, heartbeat_at=long_ago)
    assert remote_syncs_due() == 1
    record.refresh_from_db()
    assert record.status == "failed" and "worker stopped" in record.errors[0]["error"]
    assert SyncRecord.objects.filter(remote_project=remote, status="queued").count() == 1


def test_the_list_page_costs_a_fixed_number_of_queries(
    remote: RemoteProject, fake_foundry: FakeFoundry, django_assert_max_num_queries, admin_client
) -> None:
    from django.urls import reverse

    for i in range(5):
        other = remote_project_create(name=f"p{i}", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret="k")
        remote_sync_start(remote=other)
    with django_assert_max_num_queries(6):
        response = admin_client.get(reverse("agents_admin:remote_project_list"))
    assert response.content.count(b">queued</span>") == 5


def test_a_page_of_messages_is_mirrored_in_a_bounded_number_of_queries(
    remote: RemoteProject, fake_foundry: FakeFoundry, django_assert_max_num_queries
) -> None:
    from datetime import UTC, datetime

    thread = fake_foundry.seed_thread(messages=[f"m{i}" for i in range(250)])
    record = remote_sync_start(remote=remote)
    with django_assert_max_num_queries(60):  # 3 pages of messages: not one query (or three) per message
        remote_sync_execute(sync_id=record.pk)
    record.refresh_from_db()
    assert record.counts["messages"] == {"created": 250}
    local = Thread.objects.get(remote_id=thread["id"])
    assert list(Message.objects.filter(thread=local).values_list("seq", flat=True)) == list(range(1, 251))
    first = next(m for m in fake_foundry.store.objects["messages"].values() if m["thread_id"] == thread["id"])
    mirrored = Message.objects.get(remote_id=first["id"])
    assert mirrored.seq == 1 and mirrored.created_at == datetime.fromtimestamp(first["created_at"], tz=UTC)


def test_a_v2_conversations_responses_are_mirrored_as_its_runs(
    remote: RemoteProject, fake_foundry: FakeFoundry
) -> None:
    fake_foundry.seed_agent_v2("triage", [{"model": "gpt-4o", "instructions": "Sort tickets."}])
    user_turn = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "my order is late"}]}
    conversation = fake_foundry.seed_conversation([user_turn])
    answered = fake_foundry.seed_response(conversation["id"], "triage", "It ships tomorrow.", tokens=(30, 12))
    pending = fake_foundry.seed_response(conversation["id"], "triage", "", status="in_progress")
    record = sync(remote)
    assert record.status == "succeeded", record.errors
    thread = Thread.objects.get(remote_project=remote, remote_id=conversation["id"])
    agent = Agent.objects.get(remote_project=remote, remote_id="triage")
    run = Run.objects.get(remote_project=remote, remote_id=answered["id"])
    assert (run.thread, run.agent, run.status, run.model) == (thread, agent, "completed", "gpt-4o")
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (30, 12, 42)
    answer = Message.objects.get(thread=thread, role="assistant")
    assert answer.text == "It ships tomorrow." and answer.run == run
    assert Run.objects.get(remote_id=pending["id"]).status == "in_progress"

    # The pending response ends on the remote: the next sync reads it again, and nothing is mirrored twice.
    fake_foundry.store.objects["responses"][pending["id"]]["status"] = "failed"
    fake_foundry.store.objects["responses"][pending["id"]]["error"] = {"code": "server_error", "message": "boom"}
    again = sync(remote, mode="incremental")
    assert again.status == "succeeded", again.errors
    failed = Run.objects.get(remote_id=pending["id"])
    assert failed.status == "failed" and failed.last_error == {"code": "server_error", "message": "boom"}
    assert Run.objects.filter(thread=thread).count() == 2 and Message.objects.filter(thread=thread).count() == 2
