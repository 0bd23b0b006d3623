"""The Python widget renderer writes exactly what Django's widget templates write."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import pytest
from django import forms
from django.forms.renderers import TemplatesSetting
from django.test import Client
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from agents_admin.form_renderer import ConsoleFormRenderer
from tests.factories import make_agent, make_message, make_thread

TEMPLATES = TemplatesSetting()
PYTHON = ConsoleFormRenderer()
TRICKY = 'a "quoted" <b>bold</b> & café'

WIDGET_CASES: list[tuple[str, forms.Widget, object]] = [
    ("text empty", forms.TextInput(), None),
    ("text tricky", forms.TextInput(attrs={"placeholder": TRICKY, "maxlength": 40, "required": True}), TRICKY),
    ("text safe value", forms.TextInput(), mark_safe("<i>kept</i>")),
    ("text boolean attrs", forms.TextInput(attrs={"disabled": False, "readonly": True, "autofocus": True}), "x"),
    ("number", forms.NumberInput(attrs={"min": 0, "step": 0.5}), 1234567),
    ("email", forms.EmailInput(), "someone@example.com"),
    ("password hidden", forms.PasswordInput(), "secret"),
    ("password shown", forms.PasswordInput(render_value=True), "secret"),
    ("hidden", forms.HiddenInput(), 42),
    ("date", forms.DateInput(attrs={"type": "date"}), date(2026, 11, 25)),
    ("datetime", forms.DateTimeInput(), datetime(2026, 11, 25, 8, 30, tzinfo=UTC)),
    ("time", forms.TimeInput(), time(8, 30)),
    ("checkbox on", forms.CheckboxInput(), True),
    ("checkbox off", forms.CheckboxInput(), False),
    ("textarea empty", forms.Textarea(attrs={"rows": 3}), ""),
    ("textarea tricky", forms.Textarea(), TRICKY + "\nsecond line"),
    ("select", forms.Select(choices=[("", "Any"), ("a", "Alpha"), (3, "Three")]), 3),
    ("select lazy labels", forms.Select(choices=[("x", gettext_lazy("Yes")), ("<y>", TRICKY)]), "<y>"),
    (
        "select with groups",
        forms.Select(choices=[("", "—"), ("Group <1>", [("g1", "One"), ("g2", "Two")]), ("solo", "Solo")]),
        "g2",
    ),
    ("select multiple", forms.SelectMultiple(choices=[(1, "One"), (2, "Two"), (3, "Three")]), [1, 3]),
    ("null boolean", forms.NullBooleanSelect(), True),
]


@pytest.mark.parametrize(("case", "widget", "value"), WIDGET_CASES, ids=[case[0] for case in WIDGET_CASES])
def test_each_widget_renders_as_djangos_template_renders_it(case: str, widget: forms.Widget, value: object) -> None:
    attrs = {"id": "id_field", "aria-describedby": "id_field_helptext"}
    expected = widget.render("field", value, attrs=attrs, renderer=TEMPLATES)
    assert widget.render("field", value, attrs=attrs, renderer=PYTHON) == expected
    assert "<" in expected  # the comparison saw real markup


def test_a_widget_template_it_does_not_write_still_renders_through_the_templates() -> None:
    widget = forms.RadioSelect(choices=[("a", "Alpha"), ("b", "Beta")])
    html = widget.render("pick", "b", attrs={"id": "id_pick"}, renderer=PYTHON)
    assert html == widget.render("pick", "b", attrs={"id": "id_pick"}, renderer=TEMPLATES)
    assert 'type="radio"' in html and "checked" in html


# Made afresh on every response: the masked CSRF token and the CSP nonce.
_PER_RESPONSE = re.compile(r'(name="csrfmiddlewaretoken" value=|nonce=|"X-CSRFToken": )"[^"]+"')


def _page(client: Client, method: str, url: str, data: dict[str, str] | None) -> str:
    response = client.post(url, data) if method == "post" else client.get(url, data)
    assert response.status_code == 200, url
    return _PER_RESPONSE.sub(r'\1""', response.content.decode())


def test_every_console_form_page_is_the_same_html_with_either_renderer(admin_client: Client, settings: object) -> None:
    agent = make_agent()
    thread = make_thread(messages=["hello there"])
    make_message(thread, "answer", role="assistant")
    pages: list[tuple[str, str, dict[str, str] | None]] = [
        ("get", "/agents/new/", None),
        ("post", "/agents/new/", {"name": "", "model": "", "instructions": TRICKY, "temperature": "hot"}),
        ("get", f"/agents/{agent.id}/", None),
        ("get", "/threads/", {"agent": agent.id, "meta": "plan=gold", "date_from": "2026-01-01"}),
        ("get", "/threads/new/", None),
        ("get", f"/threads/{thread.id}/", None),
        ("get", "/search/", {"q": TRICKY, "flag": "escalated", "run_status": "has_failed"}),
        ("get", "/search/", {"q": "x", "date_from": "not a date"}),
        ("get", "/retention/policies/new/", None),
        ("post", "/retention/policies/new/", {"name": "", "max_age_days": "-1"}),
        ("get", "/settings/connections/new/", None),
        ("get", "/settings/users/new/", None),
    ]
    for method, url, data in pages:
        settings.FORM_RENDERER = "django.forms.renderers.TemplatesSetting"  # type: ignore[attr-defined]
        expected = _page(admin_client, method, url, data)
        settings.FORM_RENDERER = "agents_admin.form_renderer.ConsoleFormRenderer"  # type: ignore[attr-defined]
        assert _page(admin_client, method, url, data) == expected, url
        assert "<input" in expected or "<select" in expected or "<textarea" in expected, url
