"""A remote classic project exported in the v2 form and imported through this service's own v2 surface over
HTTPS (``import_v2_export``): agents become named agents with a version, threads become conversations with the
same messages in the same order, and an import cut short goes on where it stopped, creating nothing twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.core.management import CommandError, call_command

from agents_admin.models import Agent, Message, Thread
from agents_admin.services.remote import remote_project_create

if TYPE_CHECKING:
    from tests.api_support import HttpsServer
    from tests.fake_foundry import FakeFoundry

pytestmark = pytest.mark.django_db(transaction=True)
pytest_plugins = ["tests.api_support"]  # the HTTPS server, its certificate and project API keys


@pytest.fixture
def export(fake_foundry: FakeFoundry, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    remote_project_create(name="legacy", endpoint=fake_foundry.endpoint, auth_kind="api_key", secret=fake_foundry.key)
    fake_foundry.seed_agent(name="Triage", instructions="Sort the tickets.")
    thread = fake_foundry.seed_thread(metadata={"ticket": "T-7"})
    for n in range(23):
        fake_foundry.seed_message(thread["id"], f"turn {n}", role="assistant" if n % 2 else "user")
    out = tmp_path / "legacy-v2.jsonl"
    call_command("export_remote_project", project="legacy", out=str(out), format="v2")
    return out, thread


def _import(out: Path, https_server: HttpsServer, cert: Path, **options: Any) -> None:
    endpoint = f"{https_server.url}/api/projects/default"
    call_command("import_v2_export", file=str(out), endpoint=endpoint, ca_file=str(cert), **options)


def _conversation(thread_id: str, out: Path) -> Thread:
    [entry] = [json.loads(line) for line in Path(f"{out}.progress").read_text().splitlines()[-1:]]
    assert entry["source_id"] == thread_id
    return Thread.objects.get(pk=entry["target_id"])


def test_the_v2_export_imports_agents_and_conversations_in_order(
    export: tuple[Path, dict[str, Any]],
    https_server: HttpsServer,
    dev_cert: tuple[Path, Path],
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, thread = export
    monkeypatch.setenv("AGENTS_ADMIN_KEY", api_key)
    _import(out, https_server, dev_cert[0])
    agent = Agent.objects.get(api_name="triage", remote_project__isnull=True)
    assert agent.instructions == "Sort the tickets." and agent.model == "gpt-4o"
    conversation = _conversation(thread["id"], out)
    assert conversation.metadata["ticket"] == "T-7"
    messages = list(Message.objects.filter(thread=conversation).order_by("seq").values_list("role", "content"))
    assert [(role, content[0]["text"]["value"]) for role, content in messages] == [
        ("assistant" if n % 2 else "user", f"turn {n}") for n in range(23)
    ]

    _import(out, https_server, dev_cert[0])  # again: everything is already there
    assert Agent.objects.filter(api_name="triage").get().version == 1
    assert Thread.objects.filter(project=conversation.project).count() == 1
    assert Message.objects.filter(thread=conversation).count() == 23


def test_an_import_cut_short_goes_on_from_where_it_stopped(
    export: tuple[Path, dict[str, Any]],
    https_server: HttpsServer,
    dev_cert: tuple[Path, Path],
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    out, thread = export
    monkeypatch.setenv("AGENTS_ADMIN_KEY", api_key)
    lines = out.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-1]) + '{"type": "error", "error": "HTTP 503 from the source"}\n')
    progress = tmp_path / "progress.jsonl"
    with pytest.raises(CommandError, match="the export itself failed there: HTTP 503"):
        _import(cut, https_server, dev_cert[0], progress=str(progress))
    conversation = Thread.objects.get(metadata__ticket="T-7", remote_project__isnull=True)
    assert Message.objects.filter(thread=conversation).count() == 20  # the first request's items arrived

    _import(out, https_server, dev_cert[0], progress=str(progress))
    assert Thread.objects.filter(metadata__ticket="T-7", remote_project__isnull=True).count() == 1
    texts = [m.content[0]["text"]["value"] for m in Message.objects.filter(thread=conversation).order_by("seq")]
    assert texts == [f"turn {n}" for n in range(23)]


def test_a_classic_export_or_a_missing_key_is_refused_with_a_reason(
    export: tuple[Path, dict[str, Any]],
    https_server: HttpsServer,
    dev_cert: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, _ = export
    monkeypatch.delenv("AGENTS_ADMIN_KEY", raising=False)
    with pytest.raises(CommandError, match="Set AGENTS_ADMIN_KEY"):
        _import(out, https_server, dev_cert[0])
    classic = tmp_path / "classic.jsonl"
    call_command("export_remote_project", project="legacy", out=str(classic))
    monkeypatch.setenv("AGENTS_ADMIN_KEY", "aa-not-a-key")
    with pytest.raises(CommandError, match="has type 'agent'; a v2 export has"):
        _import(classic, https_server, dev_cert[0])
    assert not Agent.objects.filter(remote_project__isnull=True).exists()
