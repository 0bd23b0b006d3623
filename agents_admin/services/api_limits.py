"""Per API key limits of the REST API: streams open at once, and runs created per minute.

Counted on the notices' server (Redis, or the embedded Valkey server), so every web process shares them. A stream
holds a slot in a sorted set scored by the end of its lease; it renews the lease while open and gives the slot
back when it ends, so the slots of a process that died lapse within ``STREAM_LEASE_SECONDS``. Runs are counted
in a window per minute. When the server cannot be reached the limits are not applied (logged): runs could not be
sent to the workers either, and that is the failure to report.
"""

from __future__ import annotations

import logging
import secrets
import time

from django.conf import settings

from agents_admin.errors import RateLimited
from agents_admin.lib.run_events import client

logger = logging.getLogger(__name__)

# A stream renews its slot this often; a slot not renewed for STREAM_LEASE_SECONDS is free again.
STREAM_RENEW_SECONDS = 20.0
STREAM_LEASE_SECONDS = 60
# What a client refused a stream is told to wait: streams end when their run does, typically within seconds.
STREAM_RETRY_AFTER = 5

# Drop lapsed slots; refuse at the limit; else take one (all or nothing, whatever other processes do).
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _streams_key(api_key_id: int) -> str:
    return f"agents_admin:limit:streams:{api_key_id}"


def stream_slot_take(*, api_key_id: int) -> str:
    """Take one of the key's stream slots; returns its token. Raises RateLimited when all are taken."""
    import redis  # where it is used: see lib/run_events.py

    token = secrets.token_hex(8)
    limit = settings.API_STREAMS_PER_KEY
    if limit <= 0:
        return token
    now = time.time()
    try:
        taken = client(settings.RUN_EVENTS_URL).eval(
            _TAKE, 1, _streams_key(api_key_id), now, limit, now + STREAM_LEASE_SECONDS, token, STREAM_LEASE_SECONDS
        )
    except redis.RedisError as exc:
        logger.warning("stream limit not checked: %s", exc)
        return token
    if not taken:
        raise RateLimited(
            f"This API key has {limit} streams open, the most API_STREAMS_PER_KEY allows; "
            "wait for one to end, or ask without stream.",
            limit="API_STREAMS_PER_KEY",
            retry_after=STREAM_RETRY_AFTER,
        )
    return token


def stream_slot_renew(*, api_key_id: int, token: str) -> None:
    import redis  # where it is used: see lib/run_events.py

    if settings.API_STREAMS_PER_KEY <= 0:
        return
    try:
        client(settings.RUN_EVENTS_URL).zadd(_streams_key(api_key_id), {token: time.time() + STREAM_LEASE_SECONDS})
    except redis.RedisError as exc:
        logger.warning("stream slot not renewed: %s", exc)


def stream_slot_release(*, api_key_id: int, token: str) -> None:
    import redis  # where it is used: see lib/run_events.py

    try:
        client(settings.RUN_EVENTS_URL).zrem(_streams_key(api_key_id), token)
    except redis.RedisError as exc:
        logger.warning("stream slot not released (it lapses on its own): %s", exc)


def streams_open(*, api_key_id: int) -> int:
    """How many streams the key holds now (tests, the benchmark)."""
    key = _streams_key(api_key_id)
    conn = client(settings.RUN_EVENTS_URL)
    conn.zremrangebyscore(key, "-inf", time.time())
    return int(conn.zcard(key))


def run_create_allow(*, api_key_id: int) -> None:
    """Count a run the key is about to create; raises RateLimited past API_RUNS_PER_MINUTE_PER_KEY this minute."""
    import redis  # where it is used: see lib/run_events.py

    limit = settings.API_RUNS_PER_MINUTE_PER_KEY
    if limit <= 0:
        return
    now = time.time()
    minute = int(now // 60)
    key = f"agents_admin:limit:runs:{api_key_id}:{minute}"
    try:
        pipe = client(settings.RUN_EVENTS_URL).pipeline()
        pipe.incr(key)
        pipe.expire(key, 61)
        count = int(pipe.execute()[0])
    except redis.RedisError as exc:
        logger.warning("run limit not checked: %s", exc)
        return
    if count > limit:
        raise RateLimited(
            f"This API key created {limit} runs this minute, the most API_RUNS_PER_MINUTE_PER_KEY allows.",
            limit="API_RUNS_PER_MINUTE_PER_KEY",
            retry_after=max(1, 60 * (minute + 1) - int(now)),
        )
