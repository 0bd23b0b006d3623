"""Small display filters for the console. Output is always escaped by the template engine."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone

from agents_admin import links
from agents_admin.templatetags.conversation import time_since

register = template.Library()


@register.filter
def since(value: datetime | None) -> str:
    """``{{ value|timesince }}`` for an aware datetime, through conversation.time_since (same text, faster)."""
    try:
        return "" if not value else time_since(value, timezone.now())
    except (ValueError, TypeError):  # as the timesince filter: a value that is no aware datetime shows nothing
        return ""


@register.simple_tag
def link(name: str, *args: object) -> str:
    """``{% url %}`` for the hot pages (also ``… as var``), reversed once per process: see agents_admin/links.py."""
    return links.url(name, *args)


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
