"""Agent pages: list, create, edit, delete (confirm) and versions; forms show errors beside fields."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from agents_admin.models import Agent, AgentVersion, ModelConnection, Project
from agents_admin.services.connections import connection_create
from tests.confirm_helpers import confirm_post
from tests.factories import WEATHER_TOOL, make_agent, make_project

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Support bot",
        "description": "Answers questions",
        "model": "gpt-4o",
        "instructions": "Be brief.",
        "tools": json.dumps([WEATHER_TOOL]),
        "temperature": "0.7",
        "top_p": "",
        "response_format": "",
        "metadata": '{"team": "support"}',
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("name", ["agent_list", "agent_create"])
def test_agent_pages_require_login(anon_client: Client, name: str) -> None:
    response = anon_client.get(reverse(f"agents_admin:{name}"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_agent_detail_pages_require_login(anon_client: Client) -> None:
    agent = make_agent()
    for name in ("agent_edit", "agent_delete", "agent_versions"):
        response = anon_client.get(reverse(f"agents_admin:{name}", args=[agent.id]))
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_empty_list_invites_to_create_one(admin_client: Client) -> None:
    response = admin_client.get(reverse("agents_admin:agent_list"))
    assert response.status_code == 200
    assert "No agents yet" in response.content.decode()


def test_the_list_shows_agents_as_page_and_partial(admin_client: Client) -> None:
    agent = make_agent(name="Listed <b>agent</b>")
    full = admin_client.get(reverse("agents_admin:agent_list")).content.decode()
    partial = admin_client.get(reverse("agents_admin:agent_list"), **HX).content.decode()
    assert "<html" in full and "<html" not in partial
    for body in (full, partial):
        assert agent.id in body and "Listed &lt;b&gt;agent&lt;/b&gt;" in body


def test_creating_an_agent_saves_it_with_a_first_version(admin_client: Client, admin_user) -> None:
    response = admin_client.post(reverse("agents_admin:agent_create"), _form())
    agent = Agent.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("agents_admin:agent_edit", args=[agent.id])
    assert agent.name == "Support bot" and agent.tools == [WEATHER_TOOL] and agent.temperature == 0.7
    assert agent.metadata == {"team": "support"} and agent.response_format is None
    assert AgentVersion.objects.get(agent=agent).created_by == admin_user


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tools", "[{", "Not valid JSON"),
        ("tools", '[{"type": "function", "function": {"name": "bad name!"}}]', "function name must be"),
        ("tools", '[{"type": "teleport"}]', "unknown tool type"),
        ("temperature", "3", "between 0 and 2"),
        ("top_p", "1.5", "between 0 and 1"),
        ("temperature", "warm", "Enter a number"),
        ("model", "", "This field is required"),
        ("metadata", "[1, 2]", "Metadata must be an object"),
        ("metadata", json.dumps({f"k{i}": "v" for i in range(17)}), "at most 16 pairs"),
        ("response_format", '{"type": "xml"}', "response_format must be"),
    ],
)
def test_a_bad_field_is_shown_beside_it_and_nothing_is_saved(
    admin_client: Client, field: str, value: str, message: str
) -> None:
    response = admin_client.post(reverse("agents_admin:agent_create"), _form(**{field: value}))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    body = response.content.decode()
    assert f'id="id_{field}_error"' in body and "Nothing was saved" in body
    assert not Agent.objects.exists()


def test_the_edit_form_is_prefilled_as_page_and_partial(admin_client: Client) -> None:
    agent = make_agent(name="Prefilled", tools=[WEATHER_TOOL])
    url = reverse("agents_admin:agent_edit", args=[agent.id])
    full = admin_client.get(url).content.decode()
    partial = admin_client.get(url, **HX).content.decode()
    assert "<html" in full and "<html" not in partial
    for body in (full, partial):
        assert 'value="Prefilled"' in body and "get_weather" in body and '<label for="id_tools">' in body


def test_editing_an_agent_bumps_its_version(admin_client: Client) -> None:
    agent = make_agent(name="Before")
    response = admin_client.post(reverse("agents_admin:agent_edit", args=[agent.id]), _form(name="After"))
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.name == "After" and agent.version == 2
    assert list(agent.versions.values_list("version", flat=True)) == [2, 1]


def test_a_bad_edit_changes_nothing(admin_client: Client) -> None:
    agent = make_agent(name="Unchanged")
    response = admin_client.post(
        reverse("agents_admin:agent_edit", args=[agent.id]), _form(name="Changed", tools='[{"type": 1}]')
    )
    assert response.status_code == 200 and response.context["form"].errors["tools"]
    agent.refresh_from_db()
    assert agent.name == "Unchanged" and agent.version == 1


def test_deleting_asks_for_confirmation_then_deletes(admin_client: Client) -> None:
    agent = make_agent(name="Doomed")
    url = reverse("agents_admin:agent_delete", args=[agent.id])
    full = admin_client.get(url).content.decode()
    partial = admin_client.get(url, **HX).content.decode()
    assert "Delete agent" in full and "<html" in full
    assert "Delete agent" in partial and "<html" not in partial
    assert Agent.objects.filter(pk=agent.pk).exists()
    response = confirm_post(admin_client, url)
    assert response.status_code == 302 and response["Location"] == reverse("agents_admin:agent_list")
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_versions_show_what_each_change_did(admin_client: Client) -> None:
    agent = make_agent(instructions="Old instructions")
    admin_client.post(reverse("agents_admin:agent_edit", args=[agent.id]), _form(instructions="New instructions"))
    url = reverse("agents_admin:agent_versions", args=[agent.id])
    full = admin_client.get(url).content.decode()
    partial = admin_client.get(url, **HX).content.decode()
    assert "<html" in full and "<html" not in partial
    for body in (full, partial):
        assert "Version 2" in body and "Version 1" in body
        assert "Old instructions" in body and "New instructions" in body


@pytest.mark.parametrize("name", ["agent_edit", "agent_delete", "agent_versions"])
def test_unknown_agents_are_404(admin_client: Client, name: str) -> None:
    response = admin_client.get(reverse(f"agents_admin:{name}", args=["asst_nope"]))
    assert response.status_code == 404
    assert "Not found" in response.content.decode()


def test_every_bad_field_is_reported_at_once(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("agents_admin:agent_create"), _form(tools='[{"type": "teleport"}]', temperature="5", metadata="[]")
    )
    assert set(response.context["form"].errors) == {"tools", "temperature", "metadata"}
    assert not Agent.objects.exists()


def _connection(name: str, project: Project | None = None) -> ModelConnection:
    fields = {"name": name, "kind": "offline", "auth": "none", "project": project}
    return connection_create(fields=fields)


def test_the_form_offers_only_connections_the_project_may_use(admin_client: Client) -> None:
    _connection("shared-conn")
    _connection("own-conn", make_project())
    _connection("foreign-conn", make_project("elsewhere"))
    for url in (reverse("agents_admin:agent_create"), reverse("agents_admin:agent_edit", args=[make_agent().id])):
        full = admin_client.get(url).content.decode()
        partial = admin_client.get(url, **HX).content.decode()
        assert "<html" in full and "<html" not in partial
        for body in (full, partial):
            assert '<select name="connection"' in body and "Resolve by model name" in body
            assert "shared-conn" in body and "own-conn" in body and "foreign-conn" not in body


def test_a_chosen_connection_is_saved_and_versioned(admin_client: Client) -> None:
    agent = make_agent(name="Routed")
    connection = _connection("routed-conn", make_project())
    response = admin_client.post(
        reverse("agents_admin:agent_edit", args=[agent.id]), _form(name="Routed", connection=str(connection.pk))
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.connection == connection
    assert agent.versions.get(version=agent.version).definition["connection"] == connection.pk
    body = admin_client.get(reverse("agents_admin:agent_edit", args=[agent.id])).content.decode()
    assert f'<option value="{connection.pk}" selected>routed-conn</option>' in body
    admin_client.post(reverse("agents_admin:agent_edit", args=[agent.id]), _form(name="Routed", connection=""))
    agent.refresh_from_db()
    assert agent.connection is None
    # The versions page names the connection each version used, even after it is deleted.
    versions = reverse("agents_admin:agent_versions", args=[agent.id])
    body = admin_client.get(versions).content.decode()
    assert f"routed-conn (#{connection.pk})" in body
    connection_id = connection.pk
    connection.delete()
    body = admin_client.get(versions).content.decode()
    assert f"deleted connection (#{connection_id})" in body
    assert agent.versions.get(version=2).definition["connection"] == connection_id  # stored as it was


def test_another_projects_connection_is_refused_beside_the_field(admin_client: Client) -> None:
    agent = make_agent(name="Kept")
    foreign = _connection("foreign-conn", make_project("elsewhere"))
    response = admin_client.post(
        reverse("agents_admin:agent_edit", args=[agent.id]), _form(name="Changed", connection=str(foreign.pk))
    )
    assert response.status_code == 200 and response.context["form"].errors["connection"]
    assert 'id="id_connection_error"' in response.content.decode()
    agent.refresh_from_db()
    assert agent.name == "Kept" and agent.connection is None and agent.version == 1
