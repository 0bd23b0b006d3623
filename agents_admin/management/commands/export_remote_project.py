"""``manage.py export_remote_project --project NAME --out FILE [--format v2]``: a remote project as JSON Lines: the
classic record, or (``v2``) the requests that import it into a v2 project (``import_v2_export``)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents_admin.models import RemoteProject
from agents_admin.remote.foundry import FoundryError
from agents_admin.services.remote_export import (
    EXPORT_FORMATS,
    remote_project_export_lines,
    remote_project_v2_export_lines,
)


class Command(BaseCommand):
    help = "Export a remote Foundry project (agents, threads, messages, runs, steps) as JSON Lines, read live."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--project", required=True, help="The remote project's name (see Settings).")
        parser.add_argument("--out", required=True, help="Output file, or - for standard output.")
        parser.add_argument(
            "--format",
            choices=EXPORT_FORMATS,
            default="classic",
            help="classic: every object as the API returns it; v2: what import_v2_export sends to a v2 project.",
        )

    def handle(self, *args: Any, project: str, out: str, format: str, **options: Any) -> None:  # noqa: A002
        remote = RemoteProject.objects.filter(name=project).first()
        if remote is None:
            raise CommandError(f"No remote project named '{project}'.")
        counts: Counter[str] = Counter()
        stream = sys.stdout if out == "-" else open(out, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
        try:
            lines = remote_project_v2_export_lines if format == "v2" else remote_project_export_lines
            for line in lines(remote=remote):
                stream.write(line)
                counts[json.loads(line)["type"]] += 1
        except FoundryError as exc:
            raise CommandError(f"Export stopped: {exc}") from exc
        finally:
            if stream is not sys.stdout:
                stream.close()
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing"
        self.stderr.write(f"Exported {summary} from {remote.name}.")
