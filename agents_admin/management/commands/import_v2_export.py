"""``manage.py import_v2_export --file F --endpoint URL``: send a v2 export (``export_remote_project --format v2``)
to a project that speaks the v2 protocol (this service's, or a Foundry project on Azure), resumably."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents_admin.errors import InvalidInput
from agents_admin.remote.foundry import (
    ApiKeyAuth,
    Auth,
    BearerTokenAuth,
    FoundryClient,
    FoundryConfig,
    FoundryError,
    credential_for,
)
from agents_admin.services.v2_import import Imported, v2_export_import


def _read_progress(path: Path) -> dict[str, Imported]:
    """The progress file's lines, the last one per source winning (a conversation's item count only grows)."""
    done: dict[str, Imported] = {}
    if path.exists():
        for text in path.read_text(encoding="utf-8").splitlines():
            if text.strip():
                entry = json.loads(text)
                done[entry["source_id"]] = Imported(target_id=entry["target_id"], items=entry.get("items", 0))
    return done


class Command(BaseCommand):
    help = (
        "Import a v2 export (agent versions and conversations with their items) into a v2 project endpoint, "
        "e.g. https://<host>/api/projects/<project>. Run it again with the same progress file to resume."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", required=True, help="The export (export_remote_project --format v2).")
        parser.add_argument("--endpoint", required=True, help="The target project's endpoint.")
        auth = parser.add_mutually_exclusive_group()
        auth.add_argument(
            "--api-key-env",
            default="AGENTS_ADMIN_KEY",
            help="The environment variable holding the target's API key (default AGENTS_ADMIN_KEY).",
        )
        auth.add_argument("--entra", action="store_true", help="Sign in with azure-identity's default credential.")
        parser.add_argument("--ca-file", default="", help="A CA bundle to trust (e.g. a self-signed certificate).")
        parser.add_argument("--progress", default="", help="The progress file (default: <file>.progress).")

    def _auth(self, options: dict[str, Any]) -> Auth:
        if options["entra"]:
            return BearerTokenAuth(credential_for("default"))
        key = os.environ.get(options["api_key_env"], "")
        if not key:
            raise CommandError(f"Set {options['api_key_env']} to the target project's API key (or use --entra).")
        return ApiKeyAuth(key)

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["file"])
        if not source.is_file():
            raise CommandError(f"No export file at {source}.")
        progress_path = Path(options["progress"] or f"{source}.progress")
        config = FoundryConfig(
            endpoint=options["endpoint"],
            auth=self._auth(options),
            verify=options["ca_file"] or True,
            timeout=httpx.Timeout(60.0, connect=5.0),
        )
        done = _read_progress(progress_path)
        with progress_path.open("a", encoding="utf-8") as progress, source.open(encoding="utf-8") as lines:

            def record(source_id: str, imported: Imported) -> None:
                entry = {"source_id": source_id, "target_id": imported.target_id, "items": imported.items}
                progress.write(json.dumps(entry) + "\n")
                progress.flush()

            try:
                counts = v2_export_import(client=FoundryClient(config), lines=lines, done=done, on_progress=record)
            except (InvalidInput, FoundryError) as exc:
                raise CommandError(
                    f"Import stopped: {exc}. What arrived is in {progress_path}; run again to go on."
                ) from exc
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing new"
        self.stdout.write(self.style.SUCCESS(f"Imported {summary}. Source ids -> new ids: {progress_path}"))
