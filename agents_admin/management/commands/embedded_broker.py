"""``manage.py embedded_broker``: run the embedded broker (a Valkey server on ``VAR_DIR/broker/broker.sock``) in
the foreground, as `make run`'s ``broker`` process does. Its queue is kept in an append-only file next to the
socket, so queued runs survive a restart. Not needed (and refused) when ``REDIS_URL`` names a Redis server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents_admin.lib import embedded_broker


class Command(BaseCommand):
    help = "Run the embedded broker (Valkey on a unix socket under VAR_DIR/broker) in the foreground."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-persist", action="store_true", help="Keep the queue in memory only (lost on restart)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.REDIS_URL:
            raise CommandError("REDIS_URL is set: the broker is that Redis server, not the embedded one.")
        socket_path = Path(settings.EMBEDDED_BROKER_SOCKET)
        if embedded_broker.ping(socket_path):
            raise CommandError(f"An embedded broker is already running on {socket_path}.")
        try:
            argv = embedded_broker.server_argv(socket_path.parent, socket_path, persist=not options["no_persist"])
        except embedded_broker.BrokerUnavailable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Embedded broker on {socket_path}")
        self.stdout.flush()
        # Become the server, so signals from the process manager reach it directly.
        os.execv(argv[0], argv)  # noqa: S606 - our own argv
