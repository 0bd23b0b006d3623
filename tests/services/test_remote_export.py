"""Export of a remote project as JSON Lines, read from the fake Foundry server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from agents_admin.services.remote import remote_project_create
from tests.fake_foundry import FakeFoundry


def test_the_export_writes_every_object_once_with_children_after_their_thread(
    db: None, fake_foundry: FakeFoundry, tmp_path: Path
) -> None:
    remote_project_create(name="legacy", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key)
    agent = fake_foundry.seed_agent()
    first = fake_foundry.seed_thread(messages=["one"])
    run = fake_foundry.add("runs", fake_foundry._run_object(first["id"], agent, {}))
    fake_foundry._advance(run)
    fake_foundry._advance(run)
    second = fake_foundry.seed_thread(messages=["two", "three"])
    out = tmp_path / "legacy.jsonl"
    call_command("export_remote_project", project="legacy", out=str(out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = [(line["type"], line["data"]["id"]) for line in lines]
    assert kinds[0] == ("agent", agent["id"])
    # Threads newest first; each thread's messages, runs and steps follow it.
    assert [k for k, _ in kinds] == [
        "agent",
        "thread",
        "message",
        "message",
        "thread",
        "message",
        "message",
        "run",
        "run_step",
    ]
    assert kinds[1] == ("thread", second["id"]) and kinds[4] == ("thread", first["id"])
    assert lines[6]["data"]["content"][0]["text"]["value"] == "Echo: one"
    assert all(line["remote_project"] == "legacy" for line in lines)


def test_an_unknown_project_is_a_clear_error(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No remote project named 'nope'"):
        call_command("export_remote_project", project="nope", out=str(tmp_path / "x.jsonl"))


def test_the_v2_export_carries_v2_requests_in_batches_of_twenty_items(
    db: None, fake_foundry: FakeFoundry, tmp_path: Path
) -> None:
    remote_project_create(name="legacy", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key)
    weather = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    agent = fake_foundry.seed_agent(
        name="Support Bot!",
        tools=[weather, {"type": "file_search"}],
        response_format={"type": "json_object"},
    )
    fake_foundry.seed_agent(name="support bot")  # the same v2 name: made unique
    thread = fake_foundry.seed_thread(metadata={"customer": "42"})
    for n in range(25):
        fake_foundry.seed_message(thread["id"], f"turn {n}", role="assistant" if n % 2 else "user")
    image = {"type": "image_file", "image_file": {"file_id": "assistant-file-1"}}
    fake_foundry.seed_message(thread["id"], "look", content=[image])
    out = tmp_path / "legacy-v2.jsonl"
    call_command("export_remote_project", project="legacy", out=str(out), format="v2")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["type"], line["source_id"]) for line in lines] == [
        ("agent.version", agent["id"]),
        ("agent.version", lines[1]["source_id"]),
        ("conversation", thread["id"]),
        ("conversation.items", thread["id"]),
    ]
    first = lines[0]
    assert first["name"] == "support-bot" and lines[1]["name"] == "support-bot-2"
    assert first["body"]["definition"] == {
        "kind": "prompt",
        "model": "gpt-4o",
        "instructions": "Be helpful.",
        "temperature": 1.0,
        "top_p": 1.0,
        "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
        "text": {"format": {"type": "json_object"}},
    }
    assert first["dropped"] == ["file_search"]  # its vector stores do not exist where the export goes
    conversation, rest = lines[2]["body"], lines[3]["body"]
    assert conversation["metadata"] == {"customer": "42"} and len(conversation["items"]) == 20
    assert conversation["items"][1] == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "turn 1"}],
    }
    assert [item["content"][0]["text"] for item in rest["items"]] == [
        "turn 20",
        "turn 21",
        "turn 22",
        "turn 23",
        "turn 24",
        "[image assistant-file-1 not exported]",
    ]
    assert lines[3]["dropped"] == ["image_file assistant-file-1"]


def test_what_only_the_v2_protocol_reaches_is_exported_in_both_forms(
    db: None, fake_foundry: FakeFoundry, tmp_path: Path
) -> None:
    remote_project_create(name="both", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key)
    fake_foundry.seed_agent_v2(
        "writer",
        [{"model": "gpt-4o", "instructions": "first"}, {"model": "gpt-4o", "tools": [{"type": "file_search"}]}],
    )
    conversation = fake_foundry.seed_conversation(
        [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "draft a note"}]},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Here it is."}]},
        ],
        metadata={"topic": "notes"},
    )
    classic = tmp_path / "both.jsonl"
    call_command("export_remote_project", project="both", out=str(classic))
    record = [json.loads(line) for line in classic.read_text().splitlines()]
    assert [line["type"] for line in record] == [
        "agent_version",
        "agent_version",
        "conversation",
        "item",
        "item",
        "item",
    ]
    assert record[2]["data"]["id"] == conversation["id"]

    v2 = tmp_path / "both-v2.jsonl"
    call_command("export_remote_project", project="both", out=str(v2), format="v2")
    lines = [json.loads(line) for line in v2.read_text().splitlines()]
    assert [(line["type"], line["source_id"]) for line in lines] == [
        ("agent.version", "writer:1"),
        ("agent.version", "writer:2"),
        ("conversation", conversation["id"]),
    ]
    assert lines[0]["body"]["definition"] == {"kind": "prompt", "model": "gpt-4o", "instructions": "first"}
    assert lines[1]["dropped"] == ["file_search"] and "tools" not in lines[1]["body"]["definition"]
    assert lines[2]["body"] == {
        "metadata": {"topic": "notes"},
        "items": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "draft a note"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Here it is."}]},
        ],
    }
