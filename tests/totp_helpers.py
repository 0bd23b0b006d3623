"""Codes an authenticator app would show, computed from the secret the set-up page displays (RFC 6238)."""

from __future__ import annotations

import re
import time
from base64 import b32decode

from django_otp.oath import TOTP


def secret_from_page(html: str) -> str:
    """The base32 secret shown on the set-up page (in groups of four), as one string."""
    match = re.search(r'class="otp-secret">([A-Z2-7 ]+)<', html)
    assert match, "no secret on the page"
    return match.group(1).replace(" ", "")


def totp_code(secret: str, *, steps_ahead: int = 0) -> str:
    """The code for now, or for a later 30-second step (sign-in accepts the next one too, and never a code
    twice, so a test signing in right after the set-up uses the next step's)."""
    key = b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"
