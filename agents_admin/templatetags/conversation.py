"""The conversation markup: messages and run steps, rendered in Python.

A thread page shows 50 messages, each with a header, content parts, a status and maybe its run's steps. Through
``{% include %}`` that cost about 100 µs a message in the template engine, half of the page's server time on a
100,000-message thread; built here with f-strings it is about 10 µs. Every value that comes from data goes
through ``esc()``, which escapes as the template engine does; each message and step list carries ``hx-disable`` so
htmx never acts on attributes inside user or model text. tests/test_security_xss.py renders hostile content
through these, and tests/test_conversation_markup.py pins the markup.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django import template
from django.utils.html import avoid_wrapping
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timesince import MONTHS_DAYS, TIME_CHUNKS, TIME_STRINGS, TIME_STRINGS_KEYS
from django.utils.timezone import localtime
from django.utils.translation import get_language, gettext

from agents_admin.models import Message, RunStep
from agents_admin.selectors.conversation import ConversationMessage, StepRow

# What the markup accepts: the thread page's records (selectors_pages) or model instances.
ShownMessage = ConversationMessage | Message
ShownStep = StepRow | RunStep

register = template.Library()

ROLE_LABELS: dict[str, str] = {Message.Role.USER: "User", Message.Role.ASSISTANT: "Assistant"}
STEP_TYPE_LABELS = dict(RunStep.Type.choices)


def esc(value: Any) -> str:
    """Escape for HTML text and attribute values, as the template engine does (``&<>"\'``), leaving SafeStrings
    alone. The standard library's html.escape: Django's escape() is the same but for its lazy-string wrapper,
    which costs more than the escaping on a page of 50 messages."""
    if isinstance(value, SafeString):
        return value
    return html.escape("" if value is None else str(value), quote=True)


def _field(value: Any, *keys: str) -> Any:
    """``value[k1][k2]…`` for the JSON shapes content and steps hold; None where the shape differs (bad data must
    render as nothing, not fail the page)."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _lines(value: Any) -> str:
    """Escaped text with line breaks as <br> (the linebreaksbr filter)."""
    return esc(value).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def status_badge(status: str) -> str:
    """A run's status as a coloured badge ("no runs" for a thread without one)."""
    return f'<span class="badge badge-{esc(status or "none")}">{esc(status or "no runs")}</span>'


@functools.lru_cache(maxsize=2048)
def _time_part(name: str, num: int, language: str | None) -> str:
    """ "3 days" as timesince writes it, in the active language, with a non-breaking space."""
    return avoid_wrapping(TIME_STRINGS[name] % {"num": num})


@functools.lru_cache(maxsize=64)
def _time_separator(language: str | None) -> str:
    return gettext(", ")


def time_since(value: datetime, now: datetime) -> str:
    """``django.utils.timesince.timesince(value, now)`` for aware datetimes: the same algorithm and text, with the
    translated parts kept per language. Django's looks each part up through lazy translations, about 30 µs a call,
    three quarters of a thread-list row; tests/test_listings.py compares the two over years of differences."""
    language = get_language()
    now = now.astimezone(value.tzinfo)
    delta = now - value
    if delta.days * 86_400 + delta.seconds <= 0:  # microseconds ignored; the future is "0 minutes"
        return _time_part("minute", 0, language)
    total_months = (now.year - value.year) * 12 + (now.month - value.month)
    if value.day > now.day or (value.day == now.day and value.time() > now.time()):
        total_months -= 1
    years, months = divmod(total_months, 12)
    pivot = value
    if years or months:  # shifted by whole years and months, so the rest counts weeks, days, hours, minutes
        pivot_year, pivot_month = value.year + years, value.month + months
        if pivot_month > 12:
            pivot_month -= 12
            pivot_year += 1
        day = min(MONTHS_DAYS[pivot_month - 1], value.day)
        pivot = datetime(pivot_year, pivot_month, day, value.hour, value.minute, value.second, tzinfo=value.tzinfo)
    remaining = (now - pivot).total_seconds()
    partials = [years, months]
    for chunk in TIME_CHUNKS:
        count = int(remaining // chunk)
        partials.append(count)
        remaining -= chunk * count
    first = next((i for i, part in enumerate(partials) if part), None)
    if first is None:
        return _time_part("minute", 0, language)
    parts = [_time_part(TIME_STRINGS_KEYS[first], partials[first], language)]
    if first + 1 < len(partials) and partials[first + 1]:  # depth 2: the next unit, when it is not zero
        parts.append(_time_part(TIME_STRINGS_KEYS[first + 1], partials[first + 1], language))
    return _time_separator(language).join(parts)


def time_tag(value: datetime, shown: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A <time> element: ISO 8601 for machines, ``shown`` (a strftime format) in the local time zone for people."""
    local = localtime(value)
    return f'<time datetime="{local.isoformat()}">{local.strftime(shown)}</time>'


def _content_part(part: Any) -> str:
    kind = _field(part, "type")
    if kind == "text":
        return f'<p class="msg-text">{_lines(_field(part, "text", "value"))}</p>'
    if kind == "image_url":
        url = Truncator(str(_field(part, "image_url", "url") or "")).chars(80)
        return f'<p class="muted">[image: {esc(url)}]</p>'
    if kind == "image_file":
        return f'<p class="muted">[image file <code>{esc(_field(part, "image_file", "file_id"))}</code>]</p>'
    return ""


def _message_body(message: ShownMessage) -> str:
    parts = message.content if isinstance(message.content, list) else []
    body = (
        "".join(_content_part(part) for part in parts) if parts else f'<p class="msg-text">{_lines(message.text)}</p>'
    )
    if message.status == Message.Status.IN_PROGRESS:
        body += '<span class="typing" aria-label="still writing">…</span>'
    return body


def message_html(message: ShownMessage, *, show_run: bool) -> str:
    """One message as an <article id="msg_…">; ``show_run`` adds its run's status and steps (the history does,
    the live run panel does not, as it shows them itself). The run comes with the page's records only."""
    status = message.status
    done = status == Message.Status.COMPLETED
    classes = f"msg msg-{message.role}" + ("" if done else f" msg-{status}")
    state = "" if done else " · " + esc(status)
    head = (
        f'<header class="msg-head"><span class="role">{esc(ROLE_LABELS.get(message.role, message.role))}</span>'
        f'<span class="muted">#{message.seq} · {time_tag(message.created_at)}{state}</span>'
        "</header>"
    )
    run = ""
    if show_run and isinstance(message, ConversationMessage) and message.run_id and message.run_status is not None:
        run = (
            f'<details class="msg-run"><summary>Run <code>{esc(message.run_id)}</code> '
            f"{status_badge(message.run_status)}</summary>{steps_html(message.run_steps)}</details>"
        )
    return (
        f'<article hx-disable class="{esc(classes)}" id="{esc(message.id)}">{head}'
        f'<div class="msg-body">{_message_body(message)}</div>{run}</article>'
    )


def _tool_call(call: Any) -> str:
    function = _field(call, "function") or {}
    output = _field(function, "output")
    result = f" → <code>{esc(output)}</code>" if output is not None else ' <span class="muted">awaiting output</span>'
    return f"<li><code>{esc(_field(function, 'name'))}({esc(_field(function, 'arguments'))})</code>{result}</li>"


def _step(step: ShownStep) -> str:
    calls = ""
    if step.type == RunStep.Type.TOOL_CALLS:
        tool_calls = _field(step.step_details, "tool_calls")
        items = "".join(_tool_call(call) for call in (tool_calls if isinstance(tool_calls, list) else []))
        calls = f'<ul class="tool-calls">{items}</ul>'
    error = ""
    if step.last_error:
        code, message = _field(step.last_error, "code"), _field(step.last_error, "message")
        error = f'<p class="form-error">{esc(code)}: {esc(message)}</p>'
    label = STEP_TYPE_LABELS.get(step.type, step.type)
    return (
        f'<li class="step"><span class="step-type">{esc(label)}</span> {status_badge(step.status)}{calls}{error}</li>'
    )


@register.simple_tag
def steps_html(steps: Iterable[ShownStep]) -> SafeString:
    """A run's steps with their tool calls and outputs, oldest first."""
    items = "".join(_step(step) for step in steps)
    html_ = f'<ol class="steps" hx-disable>{items}</ol>' if items else '<p class="muted">No steps yet.</p>'
    return mark_safe(html_)  # noqa: S308 - every value in it went through esc()


@register.simple_tag
def messages_html(messages: Iterable[ShownMessage], *, show_run: bool = False) -> SafeString:
    """Messages in order, as the thread page and the run panel show them."""
    return mark_safe("".join(message_html(m, show_run=show_run) for m in messages))  # noqa: S308 - see esc()


@register.simple_tag(name="status")
def status_tag(status: str) -> SafeString:
    """``{% status run.status %}``: the status badge in a template."""
    return mark_safe(status_badge(status))  # noqa: S308 - escaped by status_badge
