"""Destructive console actions ask first: the first POST shows the confirmation page, whose token the second
POST sends back (as a person's second click does)."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client


def confirmation_token(html: str) -> str:
    match = re.search(r'name="confirm" value="([^"]+)"', html)
    assert match, "the page asks for no confirmation"
    return match.group(1)


def confirm_post(client: Client, url: str, data: dict[str, Any] | None = None, **extra: Any) -> Any:
    """POST ``data`` to ``url``, then POST it again with the confirmation page's token."""
    first = client.post(url, data or {}, **extra)
    assert first.status_code == 200, first.status_code
    return client.post(url, {**(data or {}), "confirm": confirmation_token(first.content.decode())}, **extra)
