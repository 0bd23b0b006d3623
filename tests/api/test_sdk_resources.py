"""The official SDKs (azure-ai-agents, azure-ai-projects) on resources that need no worker: CRUD, files, errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from azure.ai.agents import AgentsClient
from azure.ai.agents.models import ListSortOrder, MessageAttachment, ThreadMessageOptions
from azure.ai.projects import AIProjectClient
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from agents_admin.models import Agent, File, Message, Thread
from agents_admin.services.api_keys import api_key_revoke
from agents_admin.services.runs import run_create
from tests.api_support import HttpsServer, KeyCredential, new_key, sdk_client
from tests.factories import WEATHER_TOOL, make_agent, make_project, make_thread

pytest_plugins = ["tests.api_support"]  # the HTTPS server and SDK client fixtures


def test_agents_can_be_created_listed_updated_and_deleted(agents_client: AgentsClient) -> None:
    created = [agents_client.create_agent(model="gpt-4o", name=f"agent {i}", metadata={"i": str(i)}) for i in range(5)]
    # created_at travels as Unix seconds; the SDK turns it back into the moment the agent was made.
    assert abs(created[0].created_at.timestamp() - time.time()) < 120
    listed = [a.id for a in agents_client.list_agents(limit=2)]
    assert listed == [a.id for a in reversed(created)]
    ascending = [a.id for a in agents_client.list_agents(order=ListSortOrder.ASCENDING)]
    assert ascending == [a.id for a in created]
    updated = agents_client.update_agent(created[0].id, instructions="Be brief.", temperature=0.5)
    assert updated.instructions == "Be brief." and updated.temperature == 0.5 and updated.name == "agent 0"
    assert Agent.objects.get(pk=created[0].id).version == 2
    assert agents_client.get_agent(created[0].id).instructions == "Be brief."
    agents_client.delete_agent(created[0].id)
    with pytest.raises(ResourceNotFoundError):
        agents_client.get_agent(created[0].id)


def test_threads_and_messages_round_trip(agents_client: AgentsClient) -> None:
    thread = agents_client.threads.create(
        messages=[ThreadMessageOptions(role="user", content="first")], metadata={"customer": "42"}
    )
    assert thread.metadata == {"customer": "42"}
    thread = agents_client.threads.update(thread.id, metadata={"customer": "43"})
    assert agents_client.threads.get(thread.id).metadata == {"customer": "43"}
    assert thread.id in [t.id for t in agents_client.threads.list()]
    message = agents_client.messages.create(
        thread_id=thread.id, role="user", content=[{"type": "text", "text": "second"}], metadata={"a": "b"}
    )
    assert message.text_messages[0].text.value == "second" and message.metadata == {"a": "b"}
    message = agents_client.messages.update(thread_id=thread.id, message_id=message.id, metadata={"a": "c"})
    assert agents_client.messages.get(thread_id=thread.id, message_id=message.id).metadata == {"a": "c"}
    texts = [m.text_messages[0].text.value for m in agents_client.messages.list(thread_id=thread.id)]
    assert texts == ["second", "first"]
    agents_client.threads.delete(thread.id)
    assert not Thread.objects.filter(pk=thread.id).exists()
    with pytest.raises(ResourceNotFoundError):
        agents_client.threads.get(thread.id)


def test_paging_with_before_ends_cleanly(agents_client: AgentsClient) -> None:
    thread = agents_client.threads.create()
    made = [agents_client.messages.create(thread_id=thread.id, role="user", content=f"m{i}").id for i in range(7)]
    # ``before`` is the page just before the cursor; the client then asks for ``after`` its last item together
    # with the original ``before``, the (empty) window between them, and stops.
    newest_first = [m.id for m in agents_client.messages.list(thread_id=thread.id, limit=2, before=made[1])]
    assert newest_first == [made[3], made[2]]
    ascending = agents_client.messages.list(thread_id=thread.id, limit=2, order=ListSortOrder.ASCENDING, before=made[5])
    assert [m.id for m in ascending] == [made[3], made[4]]


def test_files_upload_download_and_attach(agents_client: AgentsClient, tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_bytes(b"hello \x00 bytes")
    uploaded = agents_client.files.upload_and_poll(file_path=str(source), purpose="assistants")
    assert uploaded.id.startswith("assistant-") and uploaded.bytes == 13 and uploaded.filename == "notes.txt"
    assert [f.id for f in agents_client.files.list().data] == [uploaded.id]
    assert agents_client.files.get(uploaded.id).filename == "notes.txt"
    assert b"".join(agents_client.files.get_content(uploaded.id)) == b"hello \x00 bytes"
    agents_client.files.save(uploaded.id, "copy.txt", target_dir=tmp_path)
    assert (tmp_path / "copy.txt").read_bytes() == b"hello \x00 bytes"
    thread = agents_client.threads.create()
    message = agents_client.messages.create(
        thread_id=thread.id,
        role="user",
        content="see attached",
        attachments=[MessageAttachment(file_id=uploaded.id, tools=[{"type": "file_search"}])],
    )
    assert message.attachments[0].file_id == uploaded.id
    with pytest.raises(HttpResponseError) as bad:
        agents_client.messages.create(
            thread_id=thread.id,
            role="user",
            content="x",
            attachments=[MessageAttachment(file_id="assistant-nope", tools=[])],
        )
    assert bad.value.status_code == 400 and "assistant-nope" in str(bad.value)
    stored = File.objects.get(pk=uploaded.id)
    agents_client.files.delete(uploaded.id)
    assert not File.objects.filter(pk=uploaded.id).exists()
    assert not stored.content.storage.exists(stored.content.name)
    with pytest.raises(ResourceNotFoundError):
        agents_client.files.get(uploaded.id)


def test_vector_stores_files_and_batches_through_the_sdk(agents_client: AgentsClient, tmp_path: Path) -> None:
    paths = []
    for name in ("a.md", "b.txt", "c.txt"):
        paths.append(tmp_path / name)
        paths[-1].write_text(f"# {name}\nSome words about {name}.")
    files = [agents_client.files.upload(file_path=str(p), purpose="assistants") for p in paths]
    store = agents_client.vector_stores.create(
        name="docs", file_ids=[files[0].id], expires_after={"anchor": "last_active_at", "days": 7}, metadata={"k": "v"}
    )
    assert store.id.startswith("vs_") and store.file_counts.total == 1 and store.status == "in_progress"
    assert store.expires_after.days == 7 and store.expires_at is not None
    assert [s.id for s in agents_client.vector_stores.list()] == [store.id]
    assert agents_client.vector_stores.modify(store.id, name="renamed").name == "renamed"
    added = agents_client.vector_store_files.create(vector_store_id=store.id, file_id=files[1].id)
    assert added.id == files[1].id and added.status == "in_progress"
    assert added.chunking_strategy.type == "static"
    batch = agents_client.vector_store_file_batches.create(vector_store_id=store.id, file_ids=[files[2].id])
    assert batch.id.startswith("vsfb_") and batch.file_counts.in_progress == 1
    assert agents_client.vector_store_file_batches.get(vector_store_id=store.id, batch_id=batch.id).id == batch.id
    cancelled = agents_client.vector_store_file_batches.cancel(vector_store_id=store.id, batch_id=batch.id)
    # A worker may have indexed the file first; cancelling then changes nothing.
    assert (cancelled.status, cancelled.file_counts.total) in {("cancelled", 1), ("completed", 1)}
    in_batch = agents_client.vector_store_file_batches.list_files(vector_store_id=store.id, batch_id=batch.id)
    assert [f.id for f in in_batch] == [files[2].id]
    every = list(agents_client.vector_store_files.list(vector_store_id=store.id, limit=1))  # pages of one
    assert sorted(f.id for f in every) == sorted(f.id for f in files)
    status = every[0].status
    same = agents_client.vector_store_files.list(vector_store_id=store.id, filter=status)
    assert every[0].id in [f.id for f in same] and all(f.status == status for f in same)
    assert list(agents_client.vector_store_files.list(vector_store_id=store.id, filter="failed")) == []
    assert agents_client.vector_store_files.get(vector_store_id=store.id, file_id=files[0].id).id == files[0].id
    agents_client.vector_store_files.delete(vector_store_id=store.id, file_id=files[0].id)
    assert agents_client.vector_stores.get(store.id).file_counts.total == 2
    agents_client.vector_stores.delete(store.id)
    with pytest.raises(ResourceNotFoundError):
        agents_client.vector_stores.get(store.id)
    assert File.objects.filter(pk=files[0].id).exists()  # the files themselves stay


def test_bad_metadata_is_a_400_naming_the_field(agents_client: AgentsClient) -> None:
    with pytest.raises(HttpResponseError) as error:
        agents_client.threads.create(metadata={"n": 1})  # type: ignore[dict-item]
    assert error.value.status_code == 400
    assert error.value.model is not None and error.value.model["error"]["param"] == "metadata"
    assert not Thread.objects.exists()


def test_an_unknown_thread_is_not_found(agents_client: AgentsClient) -> None:
    with pytest.raises(ResourceNotFoundError) as error:
        agents_client.messages.list(thread_id="thread_doesnotexist").next()
    assert "thread_doesnotexist" in str(error.value)


def test_a_second_run_on_a_busy_thread_is_refused(agents_client: AgentsClient) -> None:
    # Active whether or not a worker is around: queued without one, waiting for tool outputs with one.
    agent = make_agent(tools=[WEATHER_TOOL])
    thread = make_thread(messages=["/tool"])
    run_create(thread=thread, agent=agent)
    with pytest.raises(HttpResponseError) as error:
        agents_client.runs.create(thread_id=thread.id, agent_id=agent.id)
    assert error.value.status_code == 400 and "already has an active run" in str(error.value)
    with pytest.raises(HttpResponseError):
        agents_client.messages.create(thread_id=thread.id, role="user", content="more")
    assert Message.objects.filter(thread=thread).count() == 1


def test_unknown_and_revoked_keys_are_401(https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str) -> None:
    unknown = sdk_client(https_server, dev_cert[0], "aak_not-a-real-key")
    with pytest.raises(ClientAuthenticationError):
        unknown.list_agents().next()
    from agents_admin.models import ApiKey

    client = sdk_client(https_server, dev_cert[0], api_key)
    assert list(client.list_agents()) == []
    api_key_revoke(api_key=ApiKey.objects.get())
    with pytest.raises(ClientAuthenticationError) as error:
        list(client.list_agents())
    assert error.value.status_code == 401


def test_a_key_of_another_project_is_refused(
    https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str
) -> None:
    other_key = new_key(make_project("other"))
    make_agent(name="secret")
    client = sdk_client(https_server, dev_cert[0], other_key, project="default")
    with pytest.raises(HttpResponseError) as error:
        list(client.list_agents())
    assert error.value.status_code == 403
    own = sdk_client(https_server, dev_cert[0], other_key, project="other")
    assert list(own.list_agents()) == []


def test_the_projects_sdk_reaches_the_agents(
    https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str
) -> None:
    project = AIProjectClient(
        endpoint=f"{https_server.url}/api/projects/default",
        credential=KeyCredential(api_key),  # type: ignore[arg-type]
        connection_verify=str(dev_cert[0]),
    )
    agent = project.agents.create_agent(model="gpt-4o", name="via-projects")
    assert project.agents.get_agent(agent.id).name == "via-projects"
