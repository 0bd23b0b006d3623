"""Conversations through the ``openai`` client that azure-ai-projects 2.x hands out: one store with the classic
threads, so a thread reads as a conversation and a conversation is a thread everywhere."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from azure.ai.agents.models import ListSortOrder
from django.test import Client
from django.urls import reverse
from openai import OpenAI

from agents_admin.models import AuditEvent, Message, Thread
from tests.api_support import HttpsServer, new_key, sdk_client
from tests.factories import make_project


def test_a_conversation_is_created_with_items_read_updated_and_deleted(openai_client: OpenAI) -> None:
    conversation = openai_client.conversations.create(
        items=[
            {"type": "message", "role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Paris."}]},
        ],
        metadata={"ticket": "T-1"},
    )
    assert conversation.id.startswith("conv_") and conversation.metadata == {"ticket": "T-1"}
    thread = Thread.objects.get(pk=conversation.id)
    assert thread.message_count == 2 and list(thread.messages.values_list("role", flat=True)) == ["user", "assistant"]
    assert openai_client.conversations.retrieve(conversation.id).created_at == conversation.created_at
    updated = openai_client.conversations.update(conversation.id, metadata={"ticket": "T-2"})
    assert updated.metadata == {"ticket": "T-2"} and Thread.objects.get(pk=conversation.id).metadata == updated.metadata
    added = openai_client.conversations.items.create(
        conversation.id, items=[{"type": "message", "role": "user", "content": "And of Italy?"}]
    )
    [item] = added.data
    assert item.type == "message" and item.content[0].text == "And of Italy?"
    # Newest first by default, as the service lists items.
    newest_first = [i.content[0].text for i in openai_client.conversations.items.list(conversation.id)]
    assert newest_first == ["And of Italy?", "Paris.", "What is the capital of France?"]
    assert openai_client.conversations.items.retrieve(item.id, conversation_id=conversation.id).id == item.id
    after_delete = openai_client.conversations.items.delete(item.id, conversation_id=conversation.id)
    assert after_delete.id == conversation.id and not Message.objects.filter(pk=item.id).exists()
    assert AuditEvent.objects.filter(action="message.delete", object_id=item.id).count() == 1
    with pytest.raises(openai.NotFoundError):
        openai_client.conversations.items.retrieve(item.id, conversation_id=conversation.id)
    deleted = openai_client.conversations.delete(conversation.id)
    assert deleted.deleted and deleted.id == conversation.id and not Thread.objects.filter(pk=conversation.id).exists()
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client.conversations.retrieve(conversation.id)
    assert missing.value.code == "not_found"


def test_items_page_in_both_orders(openai_client: OpenAI) -> None:
    conversation = openai_client.conversations.create(
        items=[{"role": "user", "content": f"message {i}"} for i in range(20)]
    )
    openai_client.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": f"message {i}"} for i in range(20, 25)]
    )
    # The client pages on last_id while has_more: every item once, in order, with 4 per page.
    ascending = [
        i.content[0].text for i in openai_client.conversations.items.list(conversation.id, order="asc", limit=4)
    ]
    assert ascending == [f"message {i}" for i in range(25)]
    first_page = openai_client.conversations.items.list(conversation.id, limit=10)
    assert [i.content[0].text for i in first_page.data] == [f"message {i}" for i in range(24, 14, -1)]
    assert first_page.has_more
    later = openai_client.conversations.items.list(conversation.id, limit=10, after=first_page.data[-1].id)
    assert [i.content[0].text for i in later.data] == [f"message {i}" for i in range(14, 4, -1)]


def test_bad_items_are_refused_naming_the_field_and_change_nothing(openai_client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as too_many:
        openai_client.conversations.create(items=[{"role": "user", "content": "x"}] * 21)
    assert too_many.value.param == "items"
    with pytest.raises(openai.BadRequestError) as bad_role:
        openai_client.conversations.create(items=[{"role": "user", "content": "ok"}, {"role": "robot", "content": "x"}])
    assert bad_role.value.param == "items[1].role"
    with pytest.raises(openai.BadRequestError) as empty:
        openai_client.conversations.create(items=[{"role": "user", "content": ""}])
    assert empty.value.param and empty.value.param.startswith("items[0]")
    assert not Thread.objects.exists()


def test_a_classic_thread_reads_the_same_as_a_conversation(
    openai_client: OpenAI, https_server: HttpsServer, dev_cert: tuple[Path, Path], api_key: str
) -> None:
    classic = sdk_client(https_server, dev_cert[0], api_key)
    thread = classic.threads.create()
    for index in range(7):
        classic.messages.create(thread_id=thread.id, role="user", content=f"turn {index}")
    via_classic = [
        (m.id, m.role, m.text_messages[0].text.value)
        for m in classic.messages.list(thread_id=thread.id, order=ListSortOrder.ASCENDING, limit=3)
    ]
    via_v2 = [
        (i.id, i.role, i.content[0].text)
        for i in openai_client.conversations.items.list(thread.id, order="asc", limit=3)
    ]
    assert via_v2 == via_classic and len(via_v2) == 7
    # ...and a conversation is a thread to the classic API.
    conversation = openai_client.conversations.create(items=[{"role": "user", "content": "from v2"}])
    [message] = classic.messages.list(thread_id=conversation.id)
    assert message.text_messages[0].text.value == "from v2" and message.role == "user"
    classic.close()


def test_conversations_of_another_project_are_not_found(
    openai_client: OpenAI, https_server: HttpsServer, dev_cert: tuple[Path, Path]
) -> None:
    other = sdk_client(https_server, dev_cert[0], new_key(make_project("other")), project="other")
    theirs = other.threads.create()
    with pytest.raises(openai.NotFoundError):
        openai_client.conversations.retrieve(theirs.id)
    other.close()


def test_a_conversation_is_a_thread_in_the_console_search_and_exports(
    openai_client: OpenAI, admin_client: Client
) -> None:
    conversation = openai_client.conversations.create(
        items=[{"role": "user", "content": "Where is my parcel zebracorn?"}], metadata={"channel": "web"}
    )
    assert conversation.id in admin_client.get(reverse("agents_admin:thread_list")).content.decode()
    assert (
        conversation.id
        in admin_client.get(reverse("agents_admin:thread_detail", args=[conversation.id])).content.decode()
    )
    found = admin_client.get(reverse("agents_admin:search"), {"q": "zebracorn"}).content.decode()
    assert conversation.id in found
    exported = admin_client.get(reverse("agents_admin:thread_export", args=[conversation.id]), {"format": "jsonl"})
    lines = b"".join(exported.streaming_content).decode().splitlines()
    assert any("zebracorn" in line for line in lines)
