"""Sign-in throttling against brute force: failures counted per username and per client address."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def _keys(username: str, ip: str | None) -> list[str]:
    return [f"signin-fail:user:{username.lower()[:150]}", f"signin-fail:ip:{ip or '-'}"]


def signin_blocked(*, username: str, ip: str | None) -> bool:
    user_key, ip_key = _keys(username, ip)
    return (cache.get(user_key, 0) >= settings.SIGNIN_MAX_FAILURES_PER_USER) or (
        cache.get(ip_key, 0) >= settings.SIGNIN_MAX_FAILURES_PER_IP
    )


def signin_failed(*, username: str, ip: str | None) -> None:
    for key in _keys(username, ip):
        # add() starts the window; incr() keeps its original expiry, so the lock lifts WINDOW after the first.
        if not cache.add(key, 1, timeout=settings.SIGNIN_THROTTLE_WINDOW):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, timeout=settings.SIGNIN_THROTTLE_WINDOW)


def signin_succeeded(*, username: str, ip: str | None) -> None:
    cache.delete(_keys(username, ip)[0])
