"""Console URLs of an object, reversed once per process (per URL name, script prefix and URLconf).

``{% url %}`` and ``reverse()`` match the arguments against the route on every call, about 40 µs each; the thread
page needs a dozen of its thread's URLs and a search page one per hit. Here each route is reversed once with
placeholder arguments and the real ids are put in their place. That is only done for arguments that reverse() would
write unchanged: made of ``[A-Za-z0-9_-]`` (every object id is) and for routes whose converters take any text
(``<str:…>``). Anything else goes through reverse() itself, with its checks and its quoting.
tests/test_links.py compares the two for every console route.
"""

from __future__ import annotations

import functools
import re

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

SAFE_ARGUMENT = re.compile(r"[A-Za-z0-9_-]+")
_PLACEHOLDER = re.compile(r"__link_arg_(\d+)__")


@functools.lru_cache(maxsize=512)
def _pieces(name: str, arity: int, script_prefix: str, urlconf: str) -> tuple[str | int, ...] | None:
    """The URL as literal text and argument positions, or None when the route can't take placeholders."""
    try:
        url = reverse(name, args=[f"__link_arg_{i}__" for i in range(arity)], urlconf=urlconf)
    except NoReverseMatch:  # e.g. an <int:…> route; reverse() itself will answer (or raise) for real arguments
        return None
    pieces: list[str | int] = []
    position = 0
    for match in _PLACEHOLDER.finditer(url):
        pieces += [url[position : match.start()], int(match.group(1))]
        position = match.end()
    pieces.append(url[position:])
    return tuple(pieces)


def url(name: str, *args: object) -> str:
    """``reverse(name, args=args)``, without matching the route again for URL-safe ids."""
    texts = [str(arg) for arg in args]
    pieces = None
    if all(SAFE_ARGUMENT.fullmatch(text) for text in texts):
        pieces = _pieces(name, len(texts), get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
    if pieces is None:
        return reverse(name, args=args)
    return "".join(texts[piece] if isinstance(piece, int) else piece for piece in pieces)
