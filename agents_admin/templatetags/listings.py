"""Rows of the long lists (the thread table, search hits, the home page's recent runs), rendered in Python for
the same reason as conversation.py: a 25-row page costs about 800 template variable lookups, most of the page's
server time on a big database. Every value from data goes through ``esc()``; tests/test_security_xss.py and
tests/test_listings.py render hostile names, metadata and snippets through these.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timezone import localtime

from agents_admin.models import Run, Thread
from agents_admin.selectors.search import SearchHit
from agents_admin.templatetags.conversation import esc, status_badge, time_since, time_tag

register = template.Library()

MINUTES = "%Y-%m-%d %H:%M"  # lists show times to the minute
METADATA_VALUE_SHOWN = 30  # characters of a metadata value in a row; the thread page shows it whole


def _flag_links(names: Iterable[str], list_url: str) -> str:
    return "".join(
        f'<a class="tag" href="{list_url}?flag={esc(quote(name))}" title="Threads flagged {esc(name)}">{esc(name)}</a> '
        for name in names
    )


def _thread_row(thread: Thread, flags: list[str], detail_url: str, list_url: str, now: datetime) -> str:
    metadata = thread.metadata if isinstance(thread.metadata, dict) else {}
    tags = "".join(
        f' <span class="tag">{esc(key)}: {esc(_shortened(str(value), METADATA_VALUE_SHOWN))}</span>'
        for key, value in metadata.items()
    )
    active = localtime(thread.last_activity_at)
    agent = str(thread.last_agent) if thread.last_agent_id and thread.last_agent is not None else "—"
    link = f'<a href="{detail_url.replace(PLACEHOLDER, esc(thread.id))}"><code>{esc(thread.id)}</code></a>'
    return (
        f"<tr><td>{link}{tags}</td>"
        f'<td><time datetime="{active.isoformat()}">{esc(time_since(thread.last_activity_at, now))} ago</time></td>'
        f"<td>{thread.message_count}</td><td>{esc(agent)}</td><td>{status_badge(thread.last_run_status)}</td>"
        f"<td>{_flag_links(flags, list_url)}</td><td>{time_tag(thread.created_at, MINUTES)}</td></tr>"
    )


def _shortened(text: str, length: int) -> str:
    """``Truncator(text).chars(length)``, without its per-character walk for the usual short value: a string of at
    most ``length`` code points is never cut, and Truncator returns it NFC-normalised (20 µs a value otherwise)."""
    if len(text) <= length:
        return unicodedata.normalize("NFC", text)
    return Truncator(text).chars(length)


# Thread ids are letters, digits and underscores: the URL of one row is the page's pattern with its id put in.
PLACEHOLDER = "thread_PLACEHOLDER"


@register.simple_tag
def thread_rows(threads: Iterable[Thread], flags: dict[str, list[str]]) -> SafeString:
    """The <tr> rows of a thread table (thread and its metadata, activity, messages, agent, last run, flags,
    created), with each thread's flags as links to the threads carrying that flag."""
    detail_url = reverse("agents_admin:thread_detail", args=[PLACEHOLDER])
    list_url = reverse("agents_admin:thread_list")
    now = timezone.now()  # one "now" for the page, as the rows are read together
    rows = "".join(_thread_row(t, flags.get(t.id, []), detail_url, list_url, now) for t in threads)
    return mark_safe(rows)  # noqa: S308 - every value in it went through esc()


def _hit(hit: SearchHit, flags: list[str], list_url: str) -> str:
    message = hit.message
    name = message.agent_name  # type: ignore[attr-defined]  # read with the hit (selectors_search.message_search)
    agent = f'<span class="muted">· {esc(name)}</span>' if name is not None else ""
    return (
        '<li class="card hit"><div class="hit-meta">'
        f'<a href="{esc(hit.url)}">{esc(message.thread_id)} · #{message.seq}</a> '
        f'<span class="muted">{esc(message.role)} · {time_tag(message.created_at, MINUTES)}</span> {agent}'
        f"{_flag_links(flags, list_url)}</div>"
        f'<p class="snippet">{hit.snippet}</p></li>'
    )


@register.simple_tag
def search_hits(hits: Iterable[SearchHit], flags: dict[str, list[str]]) -> SafeString:
    """Search results: where each match is (thread, position, author, time, agent, flags) and its highlighted
    snippet (already escaped by selectors_search.highlight, with <mark> around the match)."""
    list_url = reverse("agents_admin:thread_list")
    items = "".join(_hit(hit, flags.get(hit.message.thread_id, []), list_url) for hit in hits)
    return mark_safe(items)  # noqa: S308 - every value in it went through esc() or highlight()


# Run and agent ids are letters, digits and underscores, like thread ids.
RUN_PLACEHOLDER = "run_PLACEHOLDER"
AGENT_PLACEHOLDER = "asst_PLACEHOLDER"


@register.simple_tag
def run_rows(runs: Iterable[Run], link_agents: bool) -> SafeString:
    """The <tr> rows of the recent-runs table (run, thread, agent, status, created); ``link_agents`` links each agent
    to its edit page (for those who may edit agents). A deleted agent shows as the id the run recorded."""
    run_url = reverse("agents_admin:run_panel", args=[PLACEHOLDER, RUN_PLACEHOLDER])
    thread_url = reverse("agents_admin:thread_detail", args=[PLACEHOLDER])
    agent_url = reverse("agents_admin:agent_edit", args=[AGENT_PLACEHOLDER])
    now = timezone.now()
    rows = "".join(_run_row(run, run_url, thread_url, agent_url if link_agents else "", now) for run in runs)
    return mark_safe(rows)  # noqa: S308 - every value in it went through esc()


def _run_row(run: Run, run_url: str, thread_url: str, agent_url: str, now: datetime) -> str:
    thread_id, run_id = esc(run.thread_id), esc(run.id)
    if run.agent is None:
        agent = f"<code>{esc(run.agent_ref)}</code>"
    elif agent_url:
        agent = f'<a href="{agent_url.replace(AGENT_PLACEHOLDER, esc(run.agent_id))}">{esc(run.agent)}</a>'
    else:
        agent = esc(run.agent)
    created = localtime(run.created_at)
    return (
        f'<tr><td><a href="{run_url.replace(PLACEHOLDER, thread_id).replace(RUN_PLACEHOLDER, run_id)}">'
        f"<code>{run_id}</code></a></td>"
        f'<td><a href="{thread_url.replace(PLACEHOLDER, thread_id)}"><code>{thread_id}</code></a></td>'
        f"<td>{agent}</td><td>{status_badge(run.status)}</td>"
        f'<td><time datetime="{created.isoformat()}">{esc(time_since(run.created_at, now))} ago</time></td></tr>'
    )
