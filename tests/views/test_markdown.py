"""Message text is rendered as Markdown, sanitised: formatting and code blocks show, and nothing a message writes
can run, load or act (the XSS corpus through the renderer); the raw text is one click away."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from agents_admin.lib.markdown import markdown_html
from tests.factories import make_message, make_thread
from tests.views.test_security_xss import CORPUS, unsafe

HOSTILE = [
    *CORPUS,
    "[x](JaVaScRiPt:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "![tracker](https://evil.example/pixel.png)",
    "![inline](data:image/png;base64,iVBORw0KGgo=)",
    '<a href="https://example.com" onclick="alert(1)" hx-post="/logout/">a</a>',
    "<details open ontoggle=alert(1)>x</details>",
    "<<script>script>alert(1)<</script>/script>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "<form action=/logout/ method=post><button>go</button></form>",
    '<object data="x.swf"></object><embed src="x"><base href="https://evil.example/">',
    "<style>body{display:none}</style><link rel=stylesheet href=https://evil.example/x.css>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_the_corpus_renders_inert(text: str) -> None:
    html = markdown_html(text)
    assert unsafe(html) == []
    tags = set(re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", html))
    assert tags <= {"p", "a", "strong", "em", "code", "pre", "blockquote", "br", "del"}, tags
    for tag in re.findall(r"<[a-zA-Z][^>]*>", html):  # real tags only: escaped text may spell anything
        assert not re.search(r"\s(on\w+|hx-[\w-]+|data-hx-[\w-]+|style|src)\s*=", tag, re.I), tag
    for tag in re.findall(r"<a\s[^>]*>", html):
        href = re.search(r'\shref="([^"]*)"', tag)
        assert href is None or href.group(1).startswith(("https://", "http://", "mailto:")), tag
    for anchor in re.findall(r"<a [^>]*>", html):
        assert 'rel="noopener noreferrer nofollow"' in anchor


def test_markdown_formats_and_keeps_code_blocks() -> None:
    html = markdown_html(
        "**Refund** sent, see [order](https://shop.example/o/1).\n\n```\nif x < 3:\n    go()\n```\n\n- a\n- b"
    )
    assert "<strong>Refund</strong>" in html
    assert '<a href="https://shop.example/o/1" rel="noopener noreferrer nofollow">order</a>' in html
    assert "<pre><code>if x &lt; 3:\n    go()\n</code></pre>" in html and "<li>a</li>" in html


def test_an_image_is_a_link_never_loaded() -> None:
    html = markdown_html("![the chart](https://charts.example/c.png)")
    assert "<img" not in html
    assert '<a href="https://charts.example/c.png" rel="noopener noreferrer nofollow">image: the chart</a>' in html


@pytest.mark.django_db
def test_the_thread_page_renders_markdown_in_hx_disable_and_the_raw_text_on_request(admin_client: Client) -> None:
    thread = make_thread(messages=["Where is **my** refund?"])
    make_message(thread, "It is `sent`. <b>not html</b>", role="assistant")
    body = admin_client.get(reverse("agents_admin:thread_detail", args=[thread.id])).content.decode()
    assert '<div class="msg-text md"><p>Where is <strong>my</strong> refund?</p>' in body
    assert "<code>sent</code>. &lt;b&gt;not html&lt;/b&gt;" in body
    assert "Show raw text" in body and "Where is **my** refund?" not in body
    raw = admin_client.get(reverse("agents_admin:thread_detail", args=[thread.id]), {"raw": "1"}).content.decode()
    assert '<p class="msg-text">Where is **my** refund?</p>' in raw and "<strong>" not in raw
    article = body[body.index("<article hx-disable") :]
    assert article.index("<strong>my</strong>") < article.index("</article>")
