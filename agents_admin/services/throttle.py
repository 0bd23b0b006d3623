"""Sign-in throttling against password guessing, with progressive delays rather than lockouts.

Failures are counted under three keys, each with its own allowance before delays start:

- the account from this client address (``SIGNIN_MAX_FAILURES_PER_USER`` free failures): guessing one
  password from one place slows down fast, doubling from 1 s up to ``SIGNIN_THROTTLE_WINDOW``;
- the client address across all accounts (``SIGNIN_MAX_FAILURES_PER_IP``): spraying many accounts from one place;
- the account from anywhere (four times the per-user allowance): guessing from many addresses. This one never
  waits longer than ``SIGNIN_ACCOUNT_MAX_DELAY`` seconds, so nobody can lock a person out of their account by
  failing on purpose; the owner, signing in from their own address, waits at most that long.

The username is normalised as Django compares it (NFKC, surrounding spaces dropped) and case-folded, so
``" Admin"`` counts against ``admin``. The client address is ``client_ip``: the peer, or the address a trusted
proxy reports (``TRUSTED_PROXIES``).
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

# The first delay once a key's allowance is used up; it doubles with each further failure.
BASE_DELAY_SECONDS = 1.0


def normalise_username(username: str) -> str:
    return unicodedata.normalize("NFKC", username or "").strip().casefold()[:150]


@dataclass(frozen=True)
class _Key:
    name: str
    free: int
    max_delay: float


def _keys(username: str, ip: str | None) -> list[_Key]:
    user, address = normalise_username(username), ip or "-"
    window = float(settings.SIGNIN_THROTTLE_WINDOW)
    per_user = settings.SIGNIN_MAX_FAILURES_PER_USER
    return [
        _Key(f"signin-fail:user-ip:{user}:{address}", per_user, window),
        _Key(f"signin-fail:ip:{address}", settings.SIGNIN_MAX_FAILURES_PER_IP, window),
        _Key(f"signin-fail:user:{user}", per_user * 4, float(settings.SIGNIN_ACCOUNT_MAX_DELAY)),
    ]


def _delay(failures: int, key: _Key) -> float:
    if failures < key.free:
        return 0.0
    return min(key.max_delay, BASE_DELAY_SECONDS * 2 ** (failures - key.free))


def signin_wait(*, username: str, ip: str | None, now: float | None = None) -> int:
    """Seconds before the next attempt for this account from this address is taken; 0 when it may go ahead."""
    now = time.time() if now is None else now
    wait = 0.0
    for key in _keys(username, ip):
        failures, last = cache.get(key.name) or (0, 0.0)
        wait = max(wait, last + _delay(failures, key) - now)
    return max(0, round(wait + 0.499))


def signin_failed(*, username: str, ip: str | None, now: float | None = None) -> None:
    now = time.time() if now is None else now
    for key in _keys(username, ip):
        failures, _last = cache.get(key.name) or (0, 0.0)
        # Forgotten a window after the last failure.
        cache.set(key.name, (failures + 1, now), timeout=settings.SIGNIN_THROTTLE_WINDOW)


def signin_succeeded(*, username: str, ip: str | None) -> None:
    """The person got in: forget this account's failures from this address (the others keep counting)."""
    cache.delete(_keys(username, ip)[0].name)
