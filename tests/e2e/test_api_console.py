"""One domain, two doors: what the API makes shows up in the console, and the other way round."""

from __future__ import annotations

import pytest
from azure.ai.agents import AgentsClient
from azure.ai.agents.models import ListSortOrder
from django.test import Client

from tests.conftest import Worker, wait_for

pytestmark = pytest.mark.worker
pytest_plugins = ["tests.api_support"]  # the HTTPS server and SDK client fixtures


def test_an_api_run_shows_in_the_console(
    celery_worker: Worker, agents_client: AgentsClient, admin_client: Client
) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="Made by the SDK")
    thread = agents_client.threads.create()
    agents_client.messages.create(thread_id=thread.id, role="user", content="Hello from the SDK")
    run = agents_client.runs.create_and_process(thread_id=thread.id, agent_id=agent.id, polling_interval=0.2)
    assert run.status == "completed"
    assert "Made by the SDK" in admin_client.get("/agents/").content.decode()
    page = admin_client.get(f"/threads/{thread.id}/").content.decode()
    assert "Hello from the SDK" in page and "I am the built-in offline model" in page and run.id in page


def test_a_console_run_shows_in_the_api(
    celery_worker: Worker, agents_client: AgentsClient, admin_client: Client
) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="console-run")
    thread = agents_client.threads.create()
    response = admin_client.post(f"/threads/{thread.id}/messages/", {"content": "Hi from the console"})
    assert response.status_code in (200, 302)
    response = admin_client.post(f"/threads/{thread.id}/runs/", {"agent": agent.id})
    assert response.status_code == 302
    [run] = agents_client.runs.list(thread_id=thread.id)
    assert run.agent_id == agent.id
    wait_for(lambda: agents_client.runs.get(thread_id=thread.id, run_id=run.id).status == "completed")
    texts = [
        m.text_messages[0].text.value
        for m in agents_client.messages.list(thread_id=thread.id, order=ListSortOrder.ASCENDING)
    ]
    assert texts[0] == "Hi from the console" and "Hi from the console" in texts[1]
