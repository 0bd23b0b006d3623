"""Pages hide the controls a role may not use; the target URLs refuse them anyway
(see tests/architecture/test_permissions.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents_admin.models import Run
from tests.factories import make_agent, make_run
from tests.personas import client_for, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def active_run() -> Run:
    return make_run(agent=make_agent(name="Billing helper"))


def controls(run: Run) -> dict[str, str]:
    thread_id = run.thread_id
    return {
        "delete": reverse("agents_admin:thread_delete", args=[thread_id]),
        "add message": reverse("agents_admin:message_add", args=[thread_id]),
        "start run": reverse("agents_admin:run_start", args=[thread_id]),
        "cancel run": reverse("agents_admin:run_cancel", args=[thread_id, run.id]),
        "agent config": reverse("agents_admin:agent_edit", args=[run.agent_ref]),
    }


def linked(url: str, body: str) -> bool:
    return f'action="{url}"' in body or f'href="{url}"' in body


def test_a_reviewer_reads_the_conversation_without_any_control(active_run: Run) -> None:
    client = client_for(user_with_role("Reviewer"))
    body = client.get(reverse("agents_admin:thread_detail", args=[active_run.thread_id])).content.decode()
    assert "Hello" in body and "Billing helper" in body  # the messages, and the agent's name
    shown = [name for name, url in controls(active_run).items() if linked(url, body)]
    assert shown == []
    assert "Start a run" not in body and "Send and run" not in body
    for url in controls(active_run).values():
        assert client.post(url, {}).status_code == 403


def test_an_operator_gets_every_control(active_run: Run) -> None:
    client = client_for(user_with_role("Operator"))
    body = client.get(reverse("agents_admin:thread_detail", args=[active_run.thread_id])).content.decode()
    shown = [name for name, url in controls(active_run).items() if linked(url, body)]
    assert sorted(shown) == ["add message", "cancel run", "delete", "start run"]  # agent links live on home


def test_a_reviewer_sees_no_new_thread_button_and_no_agent_links(active_run: Run) -> None:
    client = client_for(user_with_role("Reviewer"))
    threads = client.get(reverse("agents_admin:thread_list")).content.decode()
    assert reverse("agents_admin:thread_create") not in threads
    home = client.get(reverse("agents_admin:home")).content.decode()
    assert not linked(reverse("agents_admin:agent_list"), home)
    assert not linked(reverse("agents_admin:agent_edit", args=[active_run.agent_ref]), home)
    assert "Billing helper" in home


def test_an_auditor_home_has_no_links_into_conversations(active_run: Run) -> None:
    client = client_for(user_with_role("Auditor"))
    home = client.get(reverse("agents_admin:home")).content.decode()
    assert not linked(reverse("agents_admin:thread_list"), home)
    assert linked(reverse("agents_admin:audit_list"), home)
