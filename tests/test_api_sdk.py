"""The official azure-ai-agents SDK, unchanged, against the live server over HTTPS with a real worker."""

from __future__ import annotations

import pytest
from azure.ai.agents import AgentsClient
from azure.ai.agents.models import ListSortOrder, MessageRole

from agents_admin.models import Run
from tests.api_support import agents_client, api_key, dev_cert, https_server  # noqa: F401 - fixtures
from tests.conftest import Worker

pytestmark = pytest.mark.worker


def test_the_quickstart_completes(celery_worker: Worker, agents_client: AgentsClient) -> None:
    agent = agents_client.create_agent(model="gpt-4o", name="my-agent", instructions="You are helpful.")
    assert agent.id.startswith("asst_") and agent.model == "gpt-4o"
    thread = agents_client.threads.create()
    message = agents_client.messages.create(thread_id=thread.id, role="user", content="Hello, agent")
    run = agents_client.runs.create_and_process(thread_id=thread.id, agent_id=agent.id, polling_interval=0.2)
    assert run.status == "completed", run.last_error
    assert run.usage is not None and run.usage.total_tokens > 0
    messages = list(agents_client.messages.list(thread_id=thread.id, order=ListSortOrder.ASCENDING))
    assert [m.id for m in messages][0] == message.id
    assert [m.role for m in messages] == [MessageRole.USER, MessageRole.AGENT]
    assert "Hello, agent" in messages[1].text_messages[0].text.value
    assert messages[1].run_id == run.id and messages[1].agent_id == agent.id
    last = agents_client.messages.get_last_message_text_by_role(thread_id=thread.id, role=MessageRole.AGENT)
    assert last is not None and "offline model" in last.text.value
    assert Run.objects.get(pk=run.id).status == "completed"
    agents_client.threads.delete(thread.id)
    agents_client.delete_agent(agent.id)
    assert not [a for a in agents_client.list_agents() if a.id == agent.id]
