"""The console's view of the v2 protocol: classic agents shown with the v2 names they would take, and the action
that gives them those names (nothing copied; audited)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from agents_admin.models import Agent, AuditEvent
from agents_admin.roles import AUDITOR, OPERATOR, REVIEWER
from agents_admin.services.agents import agent_version_create
from tests.factories import make_agent, make_project
from tests.personas import client_for, user_with_role

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_the_page_shows_unique_valid_names_and_the_action_gives_them(admin_client: Client) -> None:
    first = make_agent(name="Support bot")
    second = make_agent(name="Support  bot!")
    odd = make_agent(name="   ")
    agent_version_create(project=make_project(), name="support-bot-2", fields={"model": "gpt-4o"})
    page = admin_client.get(reverse("agents_admin:agent_v2_names"))
    text = page.content.decode()
    assert page.status_code == 200 and first.id in text
    # Valid v2 names, unique in the project (support-bot-2 is taken by a v2 agent already).
    assert "<code>support-bot</code>" in text and "<code>support-bot-3</code>" in text and "<code>agent</code>" in text
    region = admin_client.get(reverse("agents_admin:agent_v2_names"), **HX)
    assert b'id="v2-plan"' in region.content and b"<html" not in region.content
    response = admin_client.post(reverse("agents_admin:agent_v2_names_assign"))
    assert response.status_code == 302
    names = dict(Agent.objects.filter(pk__in=[first.id, second.id, odd.id]).values_list("pk", "api_name"))
    assert names == {first.id: "support-bot", second.id: "support-bot-3", odd.id: "agent"}
    [event] = AuditEvent.objects.filter(action="agent.v2_names_assign")
    assert event.after == names
    assert b"Every agent has a v2 name" in admin_client.get(reverse("agents_admin:agent_v2_names")).content
    # Names given are kept: a second click changes nothing and writes nothing.
    admin_client.post(reverse("agents_admin:agent_v2_names_assign"))
    assert AuditEvent.objects.filter(action="agent.v2_names_assign").count() == 1


def test_who_may_see_and_who_may_name() -> None:
    make_agent(name="Helper")
    for role in (AUDITOR, REVIEWER):
        client = client_for(user_with_role(role))
        assert client.get(reverse("agents_admin:agent_v2_names")).status_code == 403
        assert client.post(reverse("agents_admin:agent_v2_names_assign")).status_code == 403
    assert not Agent.objects.filter(api_name__isnull=False).exists()
    operator = client_for(user_with_role(OPERATOR))
    page = operator.get(reverse("agents_admin:agent_v2_names"))
    assert page.status_code == 200 and b"Give these 1 agents" in page.content
    assert operator.post(reverse("agents_admin:agent_v2_names_assign")).status_code == 302
    assert Agent.objects.get(name="Helper").api_name == "helper"


def test_the_command_shows_the_plan_and_applies_it(capsys: pytest.CaptureFixture[str]) -> None:
    agent = make_agent(name="Billing helper")
    call_command("v2_migration")
    out = capsys.readouterr().out
    assert f"{agent.id}  ->  agents/billing-helper" in out and "nothing to copy" in out
    assert Agent.objects.get(pk=agent.id).api_name is None
    call_command("v2_migration", "--apply")
    assert Agent.objects.get(pk=agent.id).api_name == "billing-helper"
    assert AuditEvent.objects.get(action="agent.v2_names_assign").actor_label == "cli"
