"""The console's form renderer: Django's widget templates for <input>, <textarea> and <select>, written in Python.

Each widget Django renders goes through the template engine, three or four nested templates deep (input.html
includes attrs.html; select.html includes select_option.html per option). On the console's filter forms that was
a fifth of a list page's server time. These functions write the same markup those templates write: the same
escaping, attribute order and whitespace (tests/test_form_renderer.py compares them with Django's own templates for
every form in the app). Any other template (a third-party widget, a form's layout) still renders through the
template engine, including the project's overrides under templates/django/forms/.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.forms.renderers import TemplatesSetting
from django.http import HttpRequest
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]  # not in django-stubs

WIDGETS = "django/forms/widgets/"


def _text(value: object) -> str:
    """``{{ value }}`` with autoescape: localised as the template engine does, then escaped unless safe."""
    return str(conditional_escape(localize(template_localtime(value))))


def _string(value: Any) -> str:
    """``{{ value|stringformat:'s' }}``: ``str()`` first (so no localisation), then escaped unless safe."""
    return str(conditional_escape(value))


def attrs_html(attrs: Mapping[str, Any]) -> str:
    """attrs.html: ``False`` leaves the attribute out, ``True`` writes its bare name."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        parts.append(f" {_text(name)}" if value is True else f' {_text(name)}="{_string(value)}"')
    return "".join(parts)


def input_html(widget: Mapping[str, Any]) -> str:
    value = "" if widget["value"] is None else f' value="{_string(widget["value"])}"'
    return f'<input type="{_text(widget["type"])}" name="{_text(widget["name"])}"{value}{attrs_html(widget["attrs"])}>'


def textarea_html(widget: Mapping[str, Any]) -> str:
    value = _text(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{_text(widget["name"])}"{attrs_html(widget["attrs"])}>\n{value}</textarea>'


def select_html(widget: Mapping[str, Any]) -> str:
    parts = [f'<select name="{_text(widget["name"])}"{attrs_html(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_text(group_name)}">')
        for option in group_choices:
            parts.append(
                f'\n  <option value="{_string(option["value"])}"{attrs_html(option["attrs"])}>'
                f"{_text(option['label'])}</option>\n"  # select_option.html's own last line break
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


# Every widget template that is input.html and nothing else, as Django ships them.
_INPUTS = ("text", "number", "email", "url", "password", "hidden", "date", "datetime", "time", "checkbox", "search")
PYTHON_WIDGETS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    **{f"{WIDGETS}{name}.html": input_html for name in _INPUTS},
    f"{WIDGETS}input.html": input_html,
    f"{WIDGETS}textarea.html": textarea_html,
    f"{WIDGETS}select.html": select_html,
}


class ConsoleFormRenderer(TemplatesSetting):
    """TemplatesSetting with the common widgets rendered in Python (see the module docstring)."""

    def render(self, template_name: str, context: dict[str, Any], request: HttpRequest | None = None) -> str:
        write = PYTHON_WIDGETS.get(template_name)
        if write is not None and "widget" in context:
            return write(context["widget"])
        return str(super().render(template_name, context, request))
