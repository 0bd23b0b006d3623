"""Guard rails on destructive console actions: each asks first, says what it will do with counts, and the server
refuses the action without the confirmation page's token (a crafted POST, another object's or person's token,
or an expired one changes nothing)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.test import Client
from django.urls import reverse

from agents_admin.models import Agent, ApiKey, AuditEvent, Run, Thread
from agents_admin.services.api_keys import api_key_create
from agents_admin.services.runs import run_execute
from tests.confirm_helpers import confirm_post, confirmation_token
from tests.factories import WEATHER_TOOL, make_agent, make_project, make_run, make_thread
from tests.personas import client_for, user_with_role

pytestmark = pytest.mark.django_db
REVOKE = "/settings/api-keys/revoke/"


def test_revoking_a_key_asks_first_and_says_what_happens(admin_client: Client) -> None:
    key = api_key_create(project=make_project("sales"), label="CI pipeline").api_key
    page = admin_client.post(REVOKE, {"key": key.pk})
    body = page.content.decode()
    assert page.status_code == 200 and f"Revoke key {key.prefix}…?" in body
    assert "“CI pipeline”, project sales, never used" in body and "gets 401" in body
    key.refresh_from_db()
    assert key.revoked_at is None and not AuditEvent.objects.filter(action="api_key.revoke").exists()
    assert confirm_post(admin_client, REVOKE, {"key": key.pk}).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and AuditEvent.objects.filter(action="api_key.revoke").count() == 1


def test_a_token_for_another_key_does_not_revoke_this_one(admin_client: Client) -> None:
    project = make_project()
    first, second = api_key_create(project=project).api_key, api_key_create(project=project).api_key
    token = confirmation_token(admin_client.post(REVOKE, {"key": first.pk}).content.decode())
    response = admin_client.post(REVOKE, {"key": second.pk, "confirm": token})
    assert response.status_code == 200 and "for another action" in response.content.decode()
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


def test_a_token_from_another_person_or_a_forged_one_is_refused(admin_client: Client, admin_user: User) -> None:
    key = api_key_create(project=make_project()).api_key
    other = User.objects.create_superuser("other-admin", password="pw-1234567890")
    token = confirmation_token(client_for(other).post(REVOKE, {"key": key.pk}).content.decode())
    assert "for another action" in admin_client.post(REVOKE, {"key": key.pk, "confirm": token}).content.decode()
    forged = admin_client.post(REVOKE, {"key": key.pk, "confirm": token[:-2] + "xx"}).content.decode()
    assert "expired or is not valid" in forged
    key.refresh_from_db()
    assert key.revoked_at is None


def test_an_expired_confirmation_is_refused(admin_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    key = api_key_create(project=make_project()).api_key
    token = confirmation_token(admin_client.post(REVOKE, {"key": key.pk}).content.decode())
    later = signing.time.time() + 16 * 60  # the clock is the one thing mocked
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert "expired" in admin_client.post(REVOKE, {"key": key.pk, "confirm": token}).content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None


def test_deleting_an_agent_needs_the_token_and_states_its_runs(admin_client: Client) -> None:
    agent = make_agent(name="Doomed")
    for _ in range(2):
        Run.objects.filter(pk=make_run(agent=agent).pk).update(status="completed")
    make_run(agent=agent)  # still queued
    url = reverse("agents_admin:agent_delete", args=[agent.id])
    body = admin_client.get(url).content.decode()
    assert "Its 3 runs and their threads stay" in body and "1 run is still unfinished" in body
    assert admin_client.post(url).status_code == 200  # a POST without the token only shows the question
    assert Agent.objects.filter(pk=agent.pk).exists()
    assert confirm_post(admin_client, url).status_code == 302
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_deleting_a_thread_needs_the_token_and_states_its_counts(admin_client: Client) -> None:
    thread = make_thread(messages=["one", "two", "three"])
    url = reverse("agents_admin:thread_delete", args=[thread.id])
    body = admin_client.get(url).content.decode()
    assert "Deletes 3 messages and 0 runs" in body
    response = admin_client.post(url)
    assert response.status_code == 200 and "Confirm on this page first" in response.content.decode()
    assert Thread.objects.filter(pk=thread.pk).exists()
    assert confirm_post(admin_client, url).status_code == 302
    assert not Thread.objects.filter(pk=thread.pk).exists()


def test_deactivating_a_user_asks_first(admin_client: Client) -> None:
    rita = user_with_role("Reviewer", "rita")
    url = reverse("agents_admin:user_active", args=[rita.pk])
    body = admin_client.post(url, {"active": "0"}).content.decode()
    assert "Deactivate rita?" in body and "can no longer sign in" in body
    rita.refresh_from_db()
    assert rita.is_active
    confirm_post(admin_client, url, {"active": "0"})
    rita.refresh_from_db()
    assert not rita.is_active
    # Reactivating restores access and needs no confirmation.
    admin_client.post(url, {"active": "1"})
    rita.refresh_from_db()
    assert rita.is_active


def test_a_new_user_s_role_starts_at_the_least_privilege(admin_client: Client) -> None:
    body = admin_client.get(reverse("agents_admin:user_create")).content.decode()
    options = re.findall(r'<option value="(\w+)"( selected)?>', body)
    assert [name for name, _ in options] == ["Auditor", "Reviewer", "Operator", "Admin"]
    assert [name for name, selected in options if selected] == ["Auditor"]


def test_an_empty_tool_output_asks_before_it_is_sent(admin_client: Client) -> None:
    run = make_run(agent=make_agent(tools=[WEATHER_TOOL]), text="/tool")
    run_execute(run_id=run.id)
    run.refresh_from_db()
    call = run.pending_tool_calls[0]
    url = reverse("agents_admin:run_tool_outputs", args=[run.thread_id, run.id])
    response = admin_client.post(url, {f"output_{call['id']}": "  "})
    body = response.content.decode()
    assert response.status_code == 200 and "Send empty output?" in body and 'name="send_empty"' in body
    run.refresh_from_db()
    assert run.status == "requires_action"
    response = admin_client.post(url, {f"output_{call['id']}": "", "send_empty": "on"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "queued"
