"""Secrets at rest: connection keys are stored sealed (Fernet, keyed from SECRET_KEY), never in clear text.

A database dump or backup then holds no usable model keys. ``SECRET_KEY_FALLBACKS`` keeps old values readable
after a key rotation; a value that can no longer be opened reads as empty, so the connection asks for it again.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

PREFIX = "sealed:"
_PURPOSE = b"agents_admin.model-connection-secrets"


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(_PURPOSE + k.encode()).digest())) for k in keys])


def seal(value: str) -> str:
    if not value or value.startswith(PREFIX):
        return value
    return PREFIX + _fernet().encrypt(value.encode()).decode()


def unseal(value: str) -> str:
    if not value.startswith(PREFIX):
        return value
    try:
        return _fernet().decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        return ""
