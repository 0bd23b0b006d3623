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
