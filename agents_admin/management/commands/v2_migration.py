"""``manage.py v2_migration [--apply]``: show how the classic agents and threads read through the v2 protocol,
and (``--apply``) give the classic agents the v2 names shown. Nothing is copied: one store serves both."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from agents_admin.selectors.agents import v2_names_proposed
from agents_admin.services.agents import agents_v2_names_assign


class Command(BaseCommand):
    help = (
        "Show the v2 names proposed for classic agents (and that every thread already is a conversation with the "
        "same id); --apply gives the agents those names. Nothing is copied."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--apply", action="store_true", help="Give the classic agents the names shown.")

    def handle(self, *args: Any, **options: Any) -> None:
        plan = v2_names_proposed()
        if not plan:
            self.stdout.write("Every agent has a v2 name.")
        for proposal in plan:
            agent = proposal.agent
            self.stdout.write(
                f"{agent.id}  ->  agents/{proposal.name}  (versions 1..{agent.version}, model {agent.model})"
            )
        self.stdout.write(
            "Threads: every thread is already a conversation with the same id "
            "(GET /openai/v1/conversations/<thread id>); nothing to copy."
        )
        if options["apply"] and plan:
            assigned = agents_v2_names_assign(actor_label="cli")
            self.stdout.write(self.style.SUCCESS(f"Named {len(assigned)} agents for the v2 protocol."))
        elif plan:
            self.stdout.write("Run again with --apply to give the agents these names.")
