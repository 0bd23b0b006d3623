"""For `make run`: wait until the console answers, then print where it is and how to sign in, last.

It runs beside the web server, the worker and beat (Procfile.dev), so its lines come after their start-up logs.
It then stays up, because honcho stops every process as soon as one of them exits.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import httpx
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from agents_admin.management.commands.bootstrap_demo import DEMO_PASSWORD, DEMO_USERNAME


class Command(BaseCommand):
    help = "Wait for the console to answer on WEB_PORT, print its URL and how to sign in, then stay up."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=120.0, help="Seconds to wait for the console.")
        parser.add_argument("--exit", action="store_true", help="Exit after printing instead of staying up.")

    def handle(self, *args: Any, **options: Any) -> None:
        url = f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}/"
        if not _answers(url + "healthz", timeout=options["timeout"]):
            waited = options["timeout"]
            self.stderr.write(f"The console did not answer on {url} within {waited:.0f} s; see the web log above.")
        else:
            self.stdout.write("")
            self.stdout.write(self.style.SUCCESS(f"  Agents Admin is ready: {url}"))
            self.stdout.write(f"  {_sign_in_hint()}")
            self.stdout.write("  Press Ctrl-C to stop the web server, the worker and beat.\n")
        if not options["exit"]:
            threading.Event().wait()


def _answers(url: str, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    return False


def _sign_in_hint() -> str:
    demo = get_user_model().objects.filter(username=DEMO_USERNAME).first()
    if demo is not None and demo.check_password(DEMO_PASSWORD):
        return (
            f"Sign in as {DEMO_USERNAME} / {DEMO_PASSWORD} "
            "(the demo account; its first sign-in asks for a password of your own)."
        )
    return "Sign in with your account."
