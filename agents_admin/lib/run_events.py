"""Notices that a run changed, over Redis pub/sub, so that open streams wake when there is news.

The worker publishes a notice after each write a stream would show (a status change, a step, the streamed text
at each checkpoint); the web process holds one subscription per event loop (``Hub``) and wakes the streams of that
run. A notice carries nothing a stream relies on: the stream reads the store when it wakes, so a lost notice only
delays news until the stream's next look. The server is Redis when configured, else the embedded broker (a Valkey
server on a unix socket): both speak pub/sub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

# redis-py is imported where it is used: importing it loads OpenTelemetry's SDK whenever that is installed, which a
# process with tracing off must not pay for (tests/services/test_telemetry.py).

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "agents_admin:run:"
# Seconds between tries to subscribe again after the server went away.
RECONNECT_SECONDS = 1.0
# Redis calls from a request never wait longer than this: the store, not the notices, is the source of truth.
SOCKET_TIMEOUT = 2.0


def redis_url(broker_url: str) -> str:
    """The redis-py URL of a Celery broker URL (``redis+socket:///path`` is kombu's name for a unix socket)."""
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url.removeprefix("redis+socket://")
    return broker_url


_clients: dict[tuple[int, str], redis.Redis] = {}
_clients_lock = threading.Lock()


def client(url: str) -> redis.Redis:
    """One connection pool per process and URL (a forked worker process makes its own)."""
    import redis

    key = (os.getpid(), url)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            found = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
            _clients[key] = found
        return found


def publish(url: str, run_id: str) -> None:
    """Tell the streams of ``run_id`` to look again; never raises (a stream also looks on its own, more slowly)."""
    import redis

    try:
        client(url).publish(CHANNEL_PREFIX + run_id, b"")
    except redis.RedisError as exc:
        logger.debug("could not publish a notice for run %s: %s", run_id, exc)


@contextlib.contextmanager
def subscription(url: str, run_id: str) -> Iterator[Any]:
    """A blocking subscription to one run's notices, for synchronous code that waits for a run: yields a function
    ``wait(timeout) -> bool`` (True: a notice came), or None when the server cannot be reached."""
    import redis

    pubsub = None
    try:
        pubsub = client(url).pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(CHANNEL_PREFIX + run_id)
    except redis.RedisError as exc:
        logger.debug("no notices for run %s: %s", run_id, exc)
        pubsub = None

    def wait(timeout: float) -> bool:
        assert pubsub is not None
        try:
            return pubsub.get_message(timeout=timeout) is not None
        except redis.RedisError:
            return False

    try:
        yield wait if pubsub is not None else None
    finally:
        if pubsub is not None:
            with contextlib.suppress(redis.RedisError):
                pubsub.close()


class Inbox:
    """One stream's doorbell: set when a notice for its run arrives."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """Wait for a notice (True) or ``timeout`` seconds (False); a notice that came meanwhile counts."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self.event.clear()
        return True


class Hub:
    """The subscriber of one event loop: a pattern subscription to every run's channel, feeding the inboxes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.inboxes: dict[str, set[Inbox]] = {}
        self.subscribed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        """True while subscribed: notices arrive, so streams may wait for them instead of polling."""
        return self.subscribed.is_set()

    @contextlib.contextmanager
    def watch(self, run_id: str) -> Iterator[Inbox]:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._listen(), name="run-events")
        inbox = Inbox()
        self.inboxes.setdefault(run_id, set()).add(inbox)
        try:
            yield inbox
        finally:
            waiting = self.inboxes.get(run_id)
            if waiting is not None:
                waiting.discard(inbox)
                if not waiting:
                    del self.inboxes[run_id]
            if not self.inboxes and self.task is not None:
                # No stream left in this loop: drop the subscription until the next one.
                self.task.cancel()
                self.task = None
                self.subscribed.clear()

    async def ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the subscription (a stream that starts as the hub does)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), timeout)
        return self.healthy

    async def _listen(self) -> None:
        while True:
            connection: Any = None
            try:
                import redis.asyncio as aioredis

                connection = aioredis.Redis.from_url(self.url, socket_connect_timeout=SOCKET_TIMEOUT)
                pubsub = connection.pubsub(ignore_subscribe_messages=True)
                await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                self.subscribed.set()
                # Wake every stream once: news published before the subscription would otherwise wait.
                self._wake_all()
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel = message["channel"]
                    run_id = channel.decode() if isinstance(channel, bytes) else str(channel)
                    for inbox in self.inboxes.get(run_id.removeprefix(CHANNEL_PREFIX), ()):
                        inbox.event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.subscribed.is_set():
                    logger.warning("run notices lost their subscription (%s); streams poll until it is back", exc)
                self.subscribed.clear()
                self._wake_all()
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception, asyncio.CancelledError):
                        await connection.aclose()

    def _wake_all(self) -> None:
        for inboxes in self.inboxes.values():
            for inbox in inboxes:
                inbox.event.set()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub(url: str) -> Hub:
    """The hub of the running event loop (one subscription per loop, shared by all its streams)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None or found.url != url:
        found = Hub(url)
        _hubs[loop] = found
    return found
