"""Opaque public ids in the service's shape (``asst_…``, ``thread_…``), random and greppable."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 24

PREFIXES = {
    "agent": "asst",
    "thread": "thread",
    "conversation": "conv",
    "response": "resp",
    "message": "msg",
    "run": "run",
    "step": "step",
    "call": "call",
    "file": "assistant",
    "vector_store": "vs",
    "file_batch": "vsfb",
}


def new_id(prefix: str) -> str:
    """A fresh id: ``<prefix>_`` then 24 random letters and digits (about 143 bits)."""
    sep = "-" if prefix == "assistant" else "_"
    return prefix + sep + "".join(secrets.choice(_ALPHABET) for _ in range(_ID_LENGTH))


def new_agent_id() -> str:
    return new_id("asst")


def new_thread_id() -> str:
    return new_id("thread")


def new_conversation_id() -> str:
    """A thread made through the v2 protocol: a conversation, so its id says so (both kinds are threads)."""
    return new_id("conv")


def new_response_id() -> str:
    return new_id("resp")


def new_message_id() -> str:
    return new_id("msg")


def new_run_id() -> str:
    return new_id("run")


def new_step_id() -> str:
    return new_id("step")


def new_call_id() -> str:
    return new_id("call")


def kind_of(object_id: str) -> str | None:
    """Which kind of object an id names, from its prefix; None when it is not one of ours."""
    for kind, prefix in PREFIXES.items():
        if object_id.startswith(prefix + ("-" if prefix == "assistant" else "_")):
            return kind
    return None


def new_file_id() -> str:
    return new_id("assistant")


def new_vector_store_id() -> str:
    return new_id("vs")


def new_file_batch_id() -> str:
    return new_id("vsfb")


def small_int(value: str) -> int | None:
    """A non-negative integer a database column can hold, from query-string text; None for anything else.

    ``str.isdigit()`` also accepts superscripts ("²") that ``int()`` refuses, and 25 digits overflow a BIGINT:
    both used to answer 500."""
    if not value or len(value) > 18 or not value.isascii() or not value.isdigit():
        return None
    return int(value)
