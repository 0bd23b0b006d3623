"""Template helpers for the review pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def get_flags(flags: dict[str, list[str]], thread_id: str) -> list[str]:
    """The flag names of one thread from a page's ``{thread_id: [names]}`` map."""
    return flags.get(thread_id, []) if flags else []
