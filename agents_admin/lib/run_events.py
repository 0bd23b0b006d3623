"""Notices that a run changed, over Redis pub/sub, so that open streams wake when there is news.

The worker publishes a notice after each write a stream would show (a status change, a step, the streamed text
at each checkpoint); the web process holds one subscription per event loop (``Hub``) and wakes the streams of that
run, which then read the store. Such a notice is empty: a lost one only delays news until the stream's next look.

The worker also publishes the answer's text as the model produces it (``publish_text``), between the checkpoints
that write it to the store: a ``TextNotice`` names the message, where the piece starts in its text, and the piece.
A stream shows it at once if it continues what the stream has shown; a stream that missed one shows nothing of
it until the store has the text (the next checkpoint), so the two sources never show a piece twice or out of order.

The server is Redis when configured, else the embedded broker (a Valkey server on a unix socket): both speak
pub/sub.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
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
# Notices a stream keeps while it is busy (a slow client); older ones are dropped and the store catches up.
INBOX_NOTICES = 1000


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


@dataclass(frozen=True)
class TextNotice:
    """Text the model produced for ``message_id``: ``text`` goes at ``offset`` in the message's text so far."""

    message_id: str
    offset: int
    text: str

    def encode(self) -> bytes:
        return json.dumps({"m": self.message_id, "o": self.offset, "t": self.text}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes | str) -> TextNotice | None:
        """The notice in ``data``, or None if it is not one (an empty notice: the run changed in the store)."""
        if not data:
            return None
        try:
            found = json.loads(data)
            notice = cls(str(found["m"]), int(found["o"]), str(found["t"]))
        except (ValueError, KeyError, TypeError):
            return None
        return notice if notice.offset >= 0 else None


def publish(url: str, run_id: str, data: bytes = b"") -> None:
    """Tell the streams of ``run_id`` to look again (or, with ``data``, what the model wrote); never raises (a
    stream also looks on its own, more slowly)."""
    import redis

    try:
        client(url).publish(CHANNEL_PREFIX + run_id, data)
    except redis.RedisError as exc:
        logger.debug("could not publish a notice for run %s: %s", run_id, exc)


def publish_text(url: str, run_id: str, notice: TextNotice) -> None:
    """Hand the streams of ``run_id`` a piece of the answer as it is produced; never raises."""
    publish(url, run_id, notice.encode())


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
        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=left)
                # Text notices say nothing about the run's state: only an empty one does.
                if message is not None and not message.get("data"):
                    return True
        except redis.RedisError:
            pass
        return False

    try:
        yield wait if pubsub is not None else None
    finally:
        if pubsub is not None:
            with contextlib.suppress(redis.RedisError):
                pubsub.close()


class Inbox:
    """One stream's doorbell, rung when a notice for its run arrives; it keeps the notices in the order they came
    (None: look at the store)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.notices: collections.deque[TextNotice | None] = collections.deque()

    def put(self, notice: TextNotice | None) -> None:
        if len(self.notices) >= INBOX_NOTICES:
            self.notices.popleft()
        self.notices.append(notice)
        self.event.set()

    def take(self) -> list[TextNotice | None]:
        """The notices since the last take, in order."""
        notices = list(self.notices)
        self.notices.clear()
        return notices

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
                    inboxes = self.inboxes.get(run_id.removeprefix(CHANNEL_PREFIX))
                    if inboxes:
                        notice = TextNotice.decode(message.get("data") or b"")
                        for inbox in inboxes:
                            inbox.put(notice)
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
                inbox.put(None)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub(url: str) -> Hub:
    """The hub of the running event loop (one subscription per loop, shared by all its streams)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None or found.url != url:
        found = Hub(url)
        _hubs[loop] = found
    return found
