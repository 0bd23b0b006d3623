"""The Foundry connector learns the v2 protocol: a remote project's v2 agents (with their versions) and its
conversations (with their message items) are mirrored, and deleting a mirrored conversation deletes it on the
remote first. The remote is this service's own API over HTTPS (another project), filled by the v2 clients."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import httpx2
import pytest
from azure.ai.projects import AIProjectClient
from azure.ai.projects.models import PromptAgentDefinition

from agents_admin.models import Agent, AgentVersion, Message, RemoteProject, SyncRecord, Thread
from agents_admin.remote.connection import remote_client
from agents_admin.services.remote import remote_project_create, remote_threads_delete_remote_first
from agents_admin.services.remote_sync import agent_v2_mirror, remote_sync_execute
from tests.api_support import HttpsServer, KeyCredential, new_key
from tests.factories import make_project


@pytest.fixture
def upstream(
    transactional_db: None, https_server: HttpsServer, dev_cert: tuple[Path, Path], settings: Any
) -> tuple[AIProjectClient, RemoteProject]:
    settings.REMOTE_CA_BUNDLE = str(dev_cert[0])
    settings.REMOTE_BACKOFF_BASE_SECONDS = 0.05
    settings.REMOTE_MAX_ATTEMPTS = 2
    key = new_key(make_project("upstream"))
    endpoint = f"{https_server.url}/api/projects/upstream"
    client = AIProjectClient(
        endpoint=endpoint,
        credential=KeyCredential(key),
        connection_verify=str(dev_cert[0]),
        retry_total=0,  # type: ignore[arg-type]
    )
    remote = remote_project_create(name="up", endpoint=endpoint, auth_kind=RemoteProject.AuthKind.API_KEY, secret=key)
    return client, remote


def test_conversations_and_named_agents_are_mirrored_and_deleted_remote_first(
    upstream: tuple[AIProjectClient, RemoteProject], dev_cert: tuple[Path, Path]
) -> None:
    client, remote = upstream
    client.agents.create_version(agent_name="triage", definition=PromptAgentDefinition(model="gpt-4o"))
    openai = client.get_openai_client(
        http_client=httpx2.Client(verify=ssl.create_default_context(cafile=str(dev_cert[0])))
    )
    conversation = openai.conversations.create(
        items=[{"role": "user", "content": "hello remote"}, {"role": "assistant", "content": "hello back"}]
    )
    record = SyncRecord.objects.create(remote_project=remote, mode=SyncRecord.Mode.FULL)
    remote_sync_execute(sync_id=record.pk)
    record.refresh_from_db()
    assert record.status == SyncRecord.Status.SUCCEEDED, record.errors
    mirrored = Agent.objects.get(remote_project=remote)
    assert mirrored.api_name == "triage" and mirrored.project_id == remote.project_id
    thread = Thread.objects.get(remote_project=remote, remote_id=conversation.id)
    texts = list(Message.objects.filter(thread=thread).order_by("seq").values_list("role", "text"))
    assert texts == [("user", "hello remote"), ("assistant", "hello back")]
    # A second item on the remote arrives with the next sync, after the ones already mirrored.
    openai.conversations.items.create(conversation.id, items=[{"role": "user", "content": "one more"}])
    again = SyncRecord.objects.create(remote_project=remote, mode=SyncRecord.Mode.INCREMENTAL)
    remote_sync_execute(sync_id=again.pk)
    assert list(Message.objects.filter(thread=thread).order_by("seq").values_list("text", flat=True))[-1] == "one more"
    assert Message.objects.filter(thread=thread).count() == 3
    # Deleting mirrored threads (a purge, a console delete) goes to the remote first: a conversation through the
    # conversations route. (Called directly: here the remote shares this test's database, which a delete's
    # surrounding transaction would hold on SQLite.)
    deletable, failures = remote_threads_delete_remote_first(thread_ids=[thread.pk])
    assert (deletable, failures) == ([thread.pk], [])
    assert not Thread.objects.filter(pk=conversation.id).exists()  # gone on the remote
    openai.close()


def test_a_v2_agents_versions_are_mirrored_with_the_remotes_numbers(
    upstream: tuple[AIProjectClient, RemoteProject],
) -> None:
    client, remote = upstream
    for instructions in ("first", "second", "third"):
        client.agents.create_version(
            agent_name="writer", definition=PromptAgentDefinition(model="gpt-4o", instructions=instructions)
        )
    client.agents.delete_version(agent_name="writer", agent_version="2")
    versions = list(remote_client(remote).agent_versions_v2("writer"))
    assert agent_v2_mirror(remote, "writer", versions) == "created"
    agent = Agent.objects.get(remote_project=remote, remote_id="writer")
    assert agent.api_name == "writer" and agent.version == 3 and agent.instructions == "third"
    kept = dict(AgentVersion.objects.filter(agent=agent).values_list("version", "definition__instructions"))
    assert kept == {1: "first", 3: "third"}
    client.agents.create_version(agent_name="writer", definition=PromptAgentDefinition(model="gpt-4o-mini"))
    assert agent_v2_mirror(remote, "writer", list(remote_client(remote).agent_versions_v2("writer"))) == "updated"
    agent.refresh_from_db()
    assert agent.version == 4 and agent.model == "gpt-4o-mini"
    assert agent_v2_mirror(remote, "writer", list(remote_client(remote).agent_versions_v2("writer"))) == "unchanged"


def test_a_remote_classic_projects_v2_export_is_read_back_by_the_official_clients(
    upstream: tuple[AIProjectClient, RemoteProject],
    https_server: HttpsServer,
    dev_cert: tuple[Path, Path],
    api_key: str,
    project_client: AIProjectClient,
    openai_client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The classic side of the remote is written with this service's own services (it is this service); the
    export goes to the default project through import_v2_export, and the v2 clients read it as they would any."""
    from django.core.management import call_command

    from tests.factories import make_agent, make_message, make_thread

    _, remote = upstream
    source = make_project("upstream")
    make_agent(project=source, name="Billing Desk", instructions="Answer billing questions.")
    thread = make_thread(project=source, messages=["Why was I charged twice?"])
    make_message(thread, "A duplicate charge is refunded within 5 days.", role="assistant")
    out = tmp_path / "up-v2.jsonl"
    call_command("export_remote_project", project=remote.name, out=str(out), format="v2")
    monkeypatch.setenv("AGENTS_ADMIN_KEY", api_key)
    endpoint = f"{https_server.url}/api/projects/default"
    call_command("import_v2_export", file=str(out), endpoint=endpoint, ca_file=str(dev_cert[0]))

    version = project_client.agents.get_version(agent_name="billing-desk", agent_version="1")
    assert version.definition["instructions"] == "Answer billing questions."
    entries = [json.loads(line) for line in Path(f"{out}.progress").read_text().splitlines()]
    conversation_id = next(e["target_id"] for e in entries if e["source_id"] == thread.pk)
    items = list(openai_client.conversations.items.list(conversation_id, order="asc"))
    assert [(item.role, item.content[0].text) for item in items] == [
        ("user", "Why was I charged twice?"),
        ("assistant", "A duplicate charge is refunded within 5 days."),
    ]
