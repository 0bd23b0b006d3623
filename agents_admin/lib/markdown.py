"""Message text as Markdown, rendered to HTML that is safe to put in a page.

markdown-it-py parses CommonMark (plus tables and strikethrough) with raw HTML off, so any HTML in a message is
shown as text; nh3 (the Ammonia sanitiser) then keeps only the tags and attributes Markdown produces, links to
http(s) and mailto only, each with rel="noopener noreferrer nofollow". Images are never loaded: an image becomes
a link to its address, so a message cannot make a reviewer's browser fetch from a remote host.
"""

from __future__ import annotations

import re
from typing import Any

import nh3
from markdown_it import MarkdownIt

TAGS = {
    *("p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "a"),
    *("ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
# No style attributes: the Content Security Policy forbids inline styles (table columns lose their alignment).
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"


def _image_as_link(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    """![alt](src) -> a link reading "image: alt" (the sanitiser drops it unless src is http(s))."""
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = "".join(child.content for child in (token.children or [])) or "image"
    return f'<a href="{_escape(src)}">image: {_escape(alt)}</a>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)
_PARSER.add_render_rule("image", _image_as_link)


def markdown_html(text: str) -> str:
    """Sanitised HTML for ``text`` read as Markdown."""
    html = _PARSER.render(text or "")
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )


# A tag or a character reference: left alone, so a marked word never splits one ("amp" in "&amp;").
_HTML_PIECE = re.compile(r"(<[^>]*>|&#?\w+;)")


def mark_words(html: str, words: list[str]) -> str:
    """Safe HTML (escaped or sanitised above) with each word that begins with one of ``words`` wrapped in <mark>,
    case-insensitively ("refund" marks "Refunds": the search matched the stem). Only text between tags changes,
    and only by adding <mark> around word characters, so the result is as safe as the input."""
    wanted = sorted({w.lower() for w in words if len(w) >= 2 and re.fullmatch(r"\w+", w)}, key=len, reverse=True)
    if not wanted:
        return html
    word = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, wanted)) + r")\w*", re.IGNORECASE)
    pieces = _HTML_PIECE.split(html)
    return "".join(piece if i % 2 else word.sub(r"<mark>\g<0></mark>", piece) for i, piece in enumerate(pieces))
