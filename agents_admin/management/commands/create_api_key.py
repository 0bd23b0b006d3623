"""``manage.py create_api_key --project NAME [--label TEXT]``: print a new project API key and nothing else."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents_admin.errors import ServiceError
from agents_admin.models import Project
from agents_admin.services.api_keys import api_key_create
from agents_admin.services.projects import project_default


class Command(BaseCommand):
    help = "Create a project API key for the REST API and print it (only this once; it is stored hashed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project name (slug), e.g. 'default'.")
        parser.add_argument("--label", default="", help="What the key is for, shown in the console.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["project"]
        project = project_default() if name == Project.DEFAULT_NAME else Project.objects.filter(name=name).first()
        if project is None:
            raise CommandError(f"No project named '{name}'.")
        try:
            new = api_key_create(project=project, label=options["label"], actor_label="cli")
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        # Only the key on stdout, so provisioning scripts can capture it: KEY=$(manage.py create_api_key ...)
        self.stdout.write(new.secret)
