"""Small display filters for the console. Output is always escaped by the template engine."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django import template
from django.template.defaultfilters import filesizeformat
from django.template.loader import get_template
from django.urls import reverse
from django.utils import dateformat
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from agents_admin.lib.markdown import mark_words, markdown_html
from agents_admin.models import SavedView
from agents_admin.models.usage import STATUS_FIELDS
from agents_admin.selectors.access import audit_changes, object_link
from agents_admin.selectors.saved_views import VIEW_URL_NAMES, saved_views_menu
from agents_admin.services.saved_views import saved_view_params

register = template.Library()


@register.simple_tag
def audit_rows(event: Any) -> list[Any]:
    """A record's before/after, field by field, with links for ids (``{% audit_rows event as rows %}``)."""
    return audit_changes(event)


@register.simple_tag
def audit_object_url(event: Any) -> str | None:
    return object_link(event.object_type, event.object_id)


@register.filter
def markdown(text: Any) -> SafeString:
    """Message text rendered as Markdown and sanitised (lib/markdown.py): the one place the console shows HTML
    built from untrusted text."""
    return mark_safe(markdown_html(str(text or "")))  # noqa: S308 (sanitised by nh3 with an allow-list)


@register.filter
def marked(html: Any, message: Any) -> Any:
    """Rendered message HTML with the words of an opened search hit (``message.marks``, set by the thread page)
    in <mark> (lib/markdown.py); as it is for every other message."""
    words = getattr(message, "marks", None)
    if not words:
        return html
    return mark_safe(mark_words(str(html), list(words)))  # noqa: S308 (only <mark> added to safe HTML)


@register.filter
def pretty_json(value: Any) -> str:
    """A JSON value as indented text (strings shown as they are), or an em dash for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


@register.filter
def latency(value: int | None) -> str:
    """A latency percentile read from the histogram: the bucket's upper bound ("≤ 2 s"), or "—"."""
    if value is None:
        return "—"
    shown = f"{value} ms" if value < 1000 else f"{value / 1000:g} s"
    return f"≤ {shown}"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


@register.filter
def money(amounts: dict[str, Any] | None) -> str:
    """Amounts by currency, e.g. "12.34 USD"; "—" when nothing is priced."""
    if not amounts:
        return "—"
    return " + ".join(f"{float(amount):,.2f} {currency}" for currency, amount in sorted(amounts.items()))


# Each usage chart's table: the cells of one point, and what its row's link adds to the point's runs link.
_USAGE_TABLES: dict[str, tuple[Callable[[dict[str, Any]], tuple[Any, ...]], str]] = {
    "runs": (lambda p: tuple(p["runs"][status] for status in STATUS_FIELDS), ""),
    "tokens": (lambda p: (p["prompt_tokens"], p["completion_tokens"], p["tool_calls"]), ""),
    "latency": (lambda p: (latency(p["latency_p50_ms"]), latency(p["latency_p95_ms"])), "&status=completed"),
    "errors": (lambda p: (p["runs"]["failed"], percent(p["error_rate"])), "&status=failed"),
    "cost": (lambda p: (money(p["cost"]),), ""),
}


@register.simple_tag
def usage_table_rows(points: list[dict[str, Any]], chart: str) -> SafeString:
    """The rows of a usage chart's table, one per point, its label linking to the runs it counted.

    Built here rather than by a template loop: 90 points x 5 tables of template variables were half the 90-day
    page's CPU (bench --only usage)."""
    cells, suffix = _USAGE_TABLES[chart]
    rows = [
        f'<tr><th scope="row"><a href="{escape(p["runs_url"] + suffix)}">{escape(p["label"])}</a></th>'
        + "".join(f"<td>{value if type(value) is int else escape(value)}</td>" for value in cells(p))
        + "</tr>"
        for p in points
    ]
    return mark_safe("".join(rows))  # noqa: S308 - every value above is escaped


@register.filter
def ms(value: object) -> str:
    """A duration in milliseconds, as people read it: 850 ms, 2.4 s, 3.1 min."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"  # missing, or not a number: a stored trace is shown, never trusted
    if value < 1000:
        return f"{round(value)} ms"
    return seconds(value / 1000)


@functools.cache
def nav_hrefs() -> tuple[str, ...]:
    """Every main-menu link's URL, read once from the menu itself (base.html's nav_link tags)."""
    source = get_template("base.html").template.source  # type: ignore[attr-defined]
    return tuple(reverse(name) for name in re.findall(r'{% nav_link "([^"]+)"', source))


def nav_is_current(path: str, href: str) -> bool:
    """Whether the page at ``path`` belongs to the menu item at ``href``: the longest menu URL that prefixes
    the path (so /usage/prices/ is Model prices, not Usage); Home only on itself."""
    if href == "/":
        return path == "/"
    if not path.startswith(href):
        return False
    return not any(len(other) > len(href) and path.startswith(other) for other in nav_hrefs())


@register.simple_tag(takes_context=True)
def nav_link(context: template.Context, url_name: str, label: str, key: str = "") -> str:
    """A main-menu link, marked ``aria-current="page"`` on the pages it leads to; ``key`` is its "g" shortcut
    (static/agents_admin/keys.js reads it, and lists it on the "?" overlay)."""
    href = reverse(url_name)
    request = context.get("request")
    current = request is not None and nav_is_current(request.path, href)
    return format_html(
        '<a href="{}"{}{}>{}</a>',
        href,
        format_html(' data-key="{}" aria-keyshortcuts="g {}"', key, key) if key else "",
        mark_safe(' aria-current="page"') if current else "",
        label,
    )


@register.simple_tag(takes_context=True)
def menu_saved_views(context: template.Context) -> list[tuple[str, str, bool, bool]]:
    """The person's first saved views for the menu as (name, url, current, shared). The one open on this page is
    ``current``: the Threads or Search page with exactly the view's parameters."""
    request = context.get("request")
    views = saved_views_menu(request.user)
    here = None
    match = getattr(request, "resolver_match", None)
    for page, url_name in VIEW_URL_NAMES.items():
        if match is not None and match.view_name == url_name:
            here = (page, SavedView(params=saved_view_params(page, request.GET)).query_string)
    links = []
    for view in views:
        url = reverse(VIEW_URL_NAMES[SavedView.Page(view.page)])
        links.append(
            (view.name, f"{url}?{view.query_string}" if view.query_string else url,
             here == (view.page, view.query_string), view.shared)
        )  # fmt: skip
    return links


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


@register.filter
def purge_effect(report: Any) -> str:
    """What a purge (or its dry run) does, in counts: "deletes 1,125 threads, 48,211 messages, 3,002 runs;
    12 held threads are skipped" (runs and skips only when there are some); a vector-store policy's: "deletes 3
    vector stores, 12 files, 4,410 chunks (1.6 MB of text)"."""
    if getattr(report, "target", "threads") == "vector_stores":
        stores = _count(report.vector_stores, "vector store", "vector stores")
        files, chunks = _count(report.files, "file", "files"), _count(report.chunks, "chunk", "chunks")
        return f"deletes {stores}, {files}, {chunks} ({filesizeformat(report.bytes)} of text)"
    threads = _count(report.threads, "thread", "threads")
    parts = [_count(report.messages, "message", "messages")]
    if report.runs:
        parts.append(_count(report.runs, "run", "runs"))
    if report.action == "trim":
        effect = f"trims {threads}, removing {' and '.join(parts)}"
    else:
        effect = f"deletes {threads}, {', '.join(parts)}"
    skipped = []
    if report.skipped_held:
        skipped.append(f"{_count(report.skipped_held, 'held thread is', 'held threads are')} skipped")
    if report.skipped_active:
        skipped.append(
            f"{_count(report.skipped_active, 'thread with an active run is', 'threads with an active run are')} skipped"
        )
    return effect + ("; " + ", ".join(skipped) if skipped else "")


STATUS_LABELS = {
    "queued": "Queued",
    "in_progress": "Running",
    "requires_action": "Needs action",
    "cancelling": "Cancelling",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "expired": "Expired",
    "incomplete": "Incomplete",
}


@register.filter
def status_label(status: str | None) -> str:
    """A status as people say it ("in_progress" -> "Running"); the raw value goes in the badge's title."""
    if not status:
        return ""
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


@register.simple_tag
def when(at: datetime | None, fmt: str = "Y-m-d H:i", empty: str = "") -> str:
    """A moment as the console shows it: a <time> with the absolute UTC time, labelled UTC (what a page without
    JavaScript reads); app.js makes it relative, with the absolute time in the person's zone on hover."""
    if at is None:
        return format_html("{}", empty)
    if not isinstance(at, datetime):  # a day: no zone to speak of
        return format_html("{}", dateformat.format(at, fmt))
    utc = at.astimezone(UTC)
    return format_html(
        '<time datetime="{}" data-when title="{} UTC">{} UTC</time>',
        utc.isoformat(),
        dateformat.format(utc, "Y-m-d H:i:s"),
        dateformat.format(utc, fmt),
    )
