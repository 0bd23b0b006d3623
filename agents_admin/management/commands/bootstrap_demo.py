"""On an empty database: a demo admin, an agent and a thread with a run (console_ready says how to sign in)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from agents_admin.services.accounts import password_change_require
from agents_admin.services.agents import agent_create
from agents_admin.services.projects import project_default
from agents_admin.services.runs import run_create
from agents_admin.services.threads import thread_create

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "admin"  # noqa: S105 - a documented demo login, only created on an empty database
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class Command(BaseCommand):
    help = "Create a demo admin and a little demo data when the database is empty."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        created = False
        if not User.objects.exists():
            with transaction.atomic():
                admin = User.objects.create_superuser(DEMO_USERNAME, "admin@example.com", DEMO_PASSWORD)
                # The demo password is documented, so anyone can know it: its first sign-in chooses a real one.
                password_change_require(user=admin)
                self._seed(admin)
            created = True
        if created:
            self.stdout.write(f"Created the demo account {DEMO_USERNAME} and a demo agent, thread and run.")

    def _seed(self, admin: Any) -> None:
        project = project_default()
        agent = agent_create(
            project=project,
            actor=admin,
            name="Demo assistant",
            description="Answers with the built-in offline model; try /tool, /slow or /fail in a message.",
            model="gpt-4o",
            instructions="You are a friendly assistant for the Agents Admin demo.",
            tools=[WEATHER_TOOL],
            metadata={"team": "demo"},
        )
        thread = thread_create(
            project=project,
            metadata={"customer": "demo"},
            messages=[{"role": "user", "content": "Hello! What can you do?"}],
        )
        run_create(thread=thread, agent=agent, actor=admin)
