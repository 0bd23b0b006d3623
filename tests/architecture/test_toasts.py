"""Every console form that changes something says so: a view that handles POST and redirects after success leaves a
toast (django.contrib.messages) for the next page. Walks the source of every view, as the audit test does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import make_thread

VIEWS = Path(__file__).resolve().parents[2] / "agents_admin" / "views"
REDIRECTS = {"redirect", "HttpResponseClientRedirect", "HttpResponseRedirect"}
# Views whose redirect needs no toast, and why.
EXEMPT = {
    "auth.entra_login": "sends the browser to the identity provider (a GET)",
    "auth.entra_callback": "the signed-in console is the confirmation",
    "auth.login_code": "the second sign-in step: the signed-in console is the confirmation",
    "review_queues.item_next": "opens the next item to review, nothing changed",
    "review_queues.queue_list": "a GET that forwards",
}


def _handles_post(function: ast.FunctionDef) -> bool:
    for decorator in function.decorator_list:
        name = ast.unparse(decorator)
        if "require_POST" in name or ("require_http_methods" in name and "POST" in name):
            return True
    return False


def _calls(function: ast.FunctionDef) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            names.add(ast.unparse(node.func))
    return names


def test_every_change_made_from_a_form_leaves_a_toast() -> None:
    silent = []
    checked = 0
    for path in sorted(VIEWS.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef) or not _handles_post(node):
                continue
            calls = _calls(node)
            if not calls & REDIRECTS:
                continue
            checked += 1
            name = f"{path.stem}.{node.name}"
            if name not in EXEMPT and not any(call.startswith("messages.") for call in calls):
                silent.append(name)
    assert checked > 25
    assert silent == [], f"these views change something and redirect without a toast: {silent}"


@pytest.mark.django_db
def test_a_change_made_in_place_with_htmx_is_confirmed_at_once(admin_client: Client) -> None:
    thread = make_thread(messages=["hello"])
    url = reverse("agents_admin:thread_notes", args=[thread.id])
    body = admin_client.post(url, {"body": "called the customer"}, HTTP_HX_REQUEST="true").content.decode()
    assert "called the customer" in body and "<html" not in body
    assert '<div id="toasts" hx-swap-oob="beforeend"><div class="toast toast-success" role="status">Note added.' in body
    # Shown once: the next page has no stale toast.
    assert "Note added." not in admin_client.get(reverse("agents_admin:home")).content.decode()


@pytest.mark.django_db
def test_a_change_that_leads_to_another_page_is_confirmed_there(admin_client: Client) -> None:
    response = admin_client.post(reverse("agents_admin:thread_create"), {"metadata": ""}, follow=True)
    assert '<div class="toast toast-success" role="status">Thread created: write its first message.</div>' in (
        response.content.decode()
    )
