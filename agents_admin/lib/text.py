"""Text that cannot be stored: NUL characters and lone UTF-16 surrogates.

JSON lets a client write ``"\\ud800"`` (and Python's JSON decoder passes even raw surrogate bytes through), but
such a string is not Unicode: PostgreSQL refuses it at insert and every page that later encodes it as UTF-8 fails.
NUL cannot be stored in PostgreSQL text or jsonb at all. Input is checked here once, where it is parsed (the API's
JSON body, a form's JSON field, the service validators), so the field at fault is named and nothing is stored.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None when it can."""
    if "\x00" in value:
        return "must not contain NUL (\\u0000) characters"
    if _SURROGATE.search(value):
        return "must be valid Unicode: it contains a lone UTF-16 surrogate (\\ud800-\\udfff)"
    return None


def json_text_problem(value: Any, where: str = "") -> tuple[str, str] | None:
    """The first string or key in a parsed JSON value that cannot be stored, as (path, reason), or None.

    The path names the field as the API does: ``metadata.a``, ``tools[0].function.name``; ``body`` for the top.
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:  # iterative: a 100k-deep document must not exhaust the Python stack
        item, path = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return path or "body", problem
        elif isinstance(item, dict):
            for key in item:
                problem = text_problem(key) if isinstance(key, str) else None
                if problem:
                    return path or "body", f"has a key that {problem}"
            # Reversed onto the stack, so the first problem in document order is the one reported.
            stack.extend((item[key], f"{path}.{key}" if path else str(key)) for key in reversed(list(item)))
        elif isinstance(item, list):
            stack.extend((item[index], f"{path}[{index}]") for index in reversed(range(len(item))))
    return None


def scrub(value: str) -> str:
    """``value`` with lone surrogates replaced by U+FFFD and NULs dropped: for text we receive but cannot refuse
    (a model's answer, a remote project's data), so one bad character never fails a run or a sync."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return _SURROGATE.sub("\ufffd", value)


def scrub_json(value: Any) -> Any:
    """A parsed JSON value with every string (and key) scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    return value
