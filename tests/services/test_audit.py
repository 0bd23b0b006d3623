"""Each audited action writes exactly one record naming the actor and the object, with before/after of the
changed fields only; a refused action writes none; secrets never reach the log."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import AuditEvent, Run, RunStep
from agents_admin.roles import roles_sync
from agents_admin.services.agents import agent_delete, agent_update
from agents_admin.services.connections import connection_create, connection_delete, connection_update
from agents_admin.services.runs import run_cancel, run_submit_tool_outputs
from agents_admin.services.threads import thread_delete
from agents_admin.services.users import user_active_set, user_create, user_role_set
from tests.factories import WEATHER_TOOL, make_agent, make_run, make_thread

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="pw-1234567890")


def only_event(action: str) -> AuditEvent:
    """The one record of ``action``; fails if there are none or several."""
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, f"{action}: {len(events)} records"
    return events[0]


def requires_action_run() -> Run:
    """A run paused on one tool call, as the engine leaves it (no worker needed)."""
    run = make_run(agent=make_agent(tools=[WEATHER_TOOL]))
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
    Run.objects.filter(pk=run.pk).update(
        status="requires_action",
        required_action={"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [call]}},
    )
    RunStep.objects.create(
        run=run, thread=run.thread, type="tool_calls", status="in_progress", step_details={"tool_calls": [call]}
    )
    run.refresh_from_db()
    return run


def test_agent_create_update_delete_are_audited_once_each_with_changed_fields(alice: User) -> None:
    agent = make_agent(name="Helper", actor=alice)
    created = only_event("agent.create")
    assert (created.actor, created.actor_label, created.object_type, created.object_id) == (
        alice, "alice", "agent", agent.id
    )  # fmt: skip
    assert created.after is not None and created.after["name"] == "Helper" and created.before is None

    agent = agent_update(agent=agent, actor=alice, name="Renamed", model=agent.model)
    updated = only_event("agent.update")
    assert updated.before == {"name": "Helper", "version": 1}
    assert updated.after == {"name": "Renamed", "version": 2}

    agent_update(agent=agent, actor=alice, name="Renamed")  # no change: no version, no record
    assert AuditEvent.objects.filter(action="agent.update").count() == 1

    agent_id = agent.id
    agent_delete(agent=agent, actor=alice)
    deleted = only_event("agent.delete")
    assert deleted.object_id == agent_id and deleted.before is not None and deleted.before["name"] == "Renamed"


def test_a_refused_agent_change_writes_no_record(alice: User) -> None:
    agent = make_agent()
    before = AuditEvent.objects.count()
    with pytest.raises(InvalidInput):
        agent_update(agent=agent, actor=alice, temperature=7)
    assert AuditEvent.objects.count() == before


def test_run_start_and_cancel_are_audited_and_a_second_cancel_writes_nothing(alice: User) -> None:
    run = make_run(actor=alice)
    started = only_event("run.start")
    assert started.actor == alice and started.object_id == run.id and started.after is not None
    assert started.after["thread_id"] == run.thread_id and started.after["agent_id"] == run.agent_ref

    run_cancel(run=run, actor=alice)
    run_cancel(run=run, actor=alice)  # already cancelled: harmless, and not a second change
    cancelled = only_event("run.cancel")
    assert cancelled.before == {"status": "queued"} and cancelled.after == {"status": "cancelled"}
    assert cancelled.actor == alice


def test_the_run_start_record_names_the_actor(alice: User) -> None:
    make_run(actor=alice)
    assert only_event("run.start").actor == alice


def test_tool_output_submission_is_audited_without_the_outputs(alice: User) -> None:
    run = requires_action_run()
    run_submit_tool_outputs(run=run, tool_outputs=[{"tool_call_id": "call_1", "output": "secret-ish 22C"}], actor=alice)
    event = only_event("run.submit_tool_outputs")
    assert event.actor == alice and event.object_id == run.id
    assert event.after == {"status": "queued", "tool_call_ids": ["call_1"]}
    assert "22C" not in str(event.after)


def test_thread_delete_is_audited_and_a_refused_delete_is_not(alice: User) -> None:
    run = make_run()
    with pytest.raises(Conflict):
        thread_delete(thread=run.thread, actor=alice)
    assert not AuditEvent.objects.filter(action="thread.delete").exists()
    Run.objects.filter(pk=run.pk).update(status="completed")
    thread_delete(thread=run.thread, actor=alice)
    event = only_event("thread.delete")
    assert event.object_id == run.thread_id and event.actor == alice and event.before is not None


def test_connections_are_audited_without_secrets(alice: User) -> None:
    fields: dict[str, Any] = {
        "name": "azure", "kind": "openai_compatible", "endpoint": "https://example.com/v1", "auth": "api_key",
        "api_key": "sk-super-secret-1",
    }  # fmt: skip
    connection = connection_create(fields=fields, actor=alice)
    created = only_event("connection.create")
    assert created.after is not None and created.after["api_key"] == "(replaced)"
    connection_update(connection=connection, fields={"endpoint": "https://example.com/v2"}, actor=alice)
    updated = only_event("connection.update")
    assert updated.before == {"endpoint": "https://example.com/v1"}
    assert updated.after == {"endpoint": "https://example.com/v2"}
    connection_update(connection=connection, fields={"api_key": "sk-super-secret-2"}, actor=alice)
    assert AuditEvent.objects.filter(action="connection.update").count() == 2
    connection_delete(connection=connection, actor=alice)
    only_event("connection.delete")
    logged = str(list(AuditEvent.objects.values("before", "after")))
    assert "sk-super-secret" not in logged and connection.api_key not in logged


def test_user_create_role_change_and_deactivation_are_audited(alice: User) -> None:
    roles_sync()
    bob, password = user_create(username="bob", email="bob@example.com", role="Reviewer", actor=alice)
    created = only_event("user.create")
    assert created.object_id == str(bob.pk) and created.after is not None and created.after["role"] == "Reviewer"
    assert password not in str(created.after)

    user_role_set(user=bob, role="Operator", actor=alice)
    user_role_set(user=bob, role="Operator", actor=alice)  # unchanged: nothing recorded
    changed = only_event("user.role_change")
    assert changed.before == {"role": "Reviewer"} and changed.after == {"role": "Operator"}

    user_active_set(user=bob, active=False, actor=alice)
    user_active_set(user=bob, active=False, actor=alice)
    assert only_event("user.deactivate").after == {"is_active": False}
    user_active_set(user=bob, active=True, actor=alice)
    assert only_event("user.reactivate").actor == alice


def test_every_response_carrying_conversation_text_is_one_record(admin_client: Client, admin_user: User) -> None:
    """The page, its earlier-messages pages and the run panel (its polls included): htmx requests are reads too."""
    thread = make_thread(messages=["hi"])
    url = reverse("agents_admin:thread_detail", args=[thread.id])
    admin_client.get(url)
    event = only_event("thread.view")
    assert (event.actor, event.object_type, event.object_id, event.ip) == (admin_user, "thread", thread.id, "127.0.0.1")
    assert event.after == {"part": "page"}

    def views() -> list[dict[str, Any]]:
        return [e.after for e in AuditEvent.objects.filter(action="thread.view", object_id=thread.id).order_by("id")]

    admin_client.get(url, {"before": 5}, **HX)
    assert views()[-1] == {"part": "messages", "before": 5} and len(views()) == 2
    run = make_run(thread=thread)
    panel = reverse("agents_admin:run_panel", args=[thread.id, run.id])
    admin_client.get(panel, **HX)
    admin_client.get(panel, **HX)  # a poll reads the run's messages again
    assert views()[-2:] == [{"part": "run_panel", "run": run.id}] * 2 and len(views()) == 4
    admin_client.get(panel)  # the run's own page shows the whole conversation
    assert views()[-1] == {"part": "page"} and len(views()) == 5
    assert {e.actor for e in AuditEvent.objects.filter(action="thread.view")} == {admin_user}


def test_console_actions_name_the_signed_in_user(admin_client: Client, admin_user: User) -> None:
    response = admin_client.post(reverse("agents_admin:agent_create"), {"name": "A", "model": "gpt-4o"})
    assert response.status_code == 302
    assert only_event("agent.create").actor == admin_user
    thread = make_thread(messages=["hi"])
    agent = only_event("agent.create").object_id
    admin_client.post(reverse("agents_admin:run_start", args=[thread.id]), {"agent": agent})
    assert only_event("run.start").actor == admin_user
