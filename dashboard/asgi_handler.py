"""Django's ASGI handler, with the request's thread given back as soon as the response is ready.

Django runs the synchronous middleware (sessions, CSRF, authentication, CSP, WhiteNoise, ...) and views of an ASGI
request in one thread of its own (asgiref's thread-sensitive executor), made for each request and kept until the
request ends: for a stream, until its last event, so every open stream held an idle thread. Here that thread
serves the request only until its response is ready (every middleware has run, ``process_response`` included),
closes its database connections, and ends; the stream's body is then sent from the event loop alone. Any
thread-sensitive call made after that (closing the response) gets a fresh thread, ended with the request.

At most ``WEB_REQUEST_THREADS`` requests of a process are in that phase at once (the others wait their turn in
the event loop), so 200 streams opened at once do not ask the database for 200 connections.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db import connections
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class RequestThread(Executor):
    """The request's one thread for thread-sensitive calls, started when first needed; ``release`` lets it end
    once its calls are done (a call after that starts another)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
            return self._pool.submit(fn, *args, **kwargs)

    @property
    def started(self) -> bool:
        return self._pool is not None

    def release(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.release()


_request_thread: contextvars.ContextVar[RequestThread] = contextvars.ContextVar("request_thread")


def _connections_close() -> None:
    """The request thread's database connections end with it (Django closes them when the request finishes,
    which now happens in another thread). Never inside a transaction (a test's)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _request_slots() -> asyncio.Semaphore:
    """The running event loop's turns for requests being answered (WEB_REQUEST_THREADS)."""
    loop = asyncio.get_running_loop()
    found = _slots.get(loop)
    if found is None:
        found = _slots[loop] = asyncio.Semaphore(max(1, settings.WEB_REQUEST_THREADS))
    return found


class StreamingASGIHandler(ASGIHandler):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        thread = RequestThread()
        token = _request_thread.set(thread)
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            _request_thread.reset(token)
            thread.release()

    async def run_get_response(self, request: HttpRequest) -> HttpResponseBase:
        async with _request_slots():
            response = await super().run_get_response(request)
            thread = _request_thread.get(None)
            if thread is not None and thread.started:
                await sync_to_async(_connections_close)()
                thread.release()
        return response
