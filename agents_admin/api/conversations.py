"""Conversations of the v2 protocol (``/openai/v1/conversations``), which are threads: a classic thread reads as a
conversation and its messages as message items, and a conversation is a thread in the console, search, exports
and retention."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http.response import HttpResponseBase

from agents_admin.api.base import Call, ok, opt_dict, opt_list
from agents_admin.api.errors import ApiError, invalid, not_found
from agents_admin.api.pagination import envelope, limit_and_order, page
from agents_admin.api.v2_shapes import conversation_item_json, conversation_json, message_item_json
from agents_admin.models import Message, Thread
from agents_admin.selectors.agents import agent_for_name
from agents_admin.selectors.conversations import (
    ConversationItem,
    conversation_item,
    conversation_items_page,
    conversations_of,
)
from agents_admin.services.files import files_check_content
from agents_admin.services.stores import messages_add
from agents_admin.services.threads import message_delete, thread_create, thread_delete, thread_update
from agents_admin.validation import validate_content

# At most this many items per create call, as the service allows.
MAX_ITEMS_PER_CALL = 20


def get_conversation(call: Call, conversation_id: str, *, param: str = "conversation_id") -> Thread:
    thread = Thread.objects.filter(project=call.project, pk=conversation_id).first()
    if thread is None:
        raise ApiError(404, "not_found", f"No conversation found with id '{conversation_id}'.", param=param)
    return thread


def content_from_item(content: Any, *, param: str) -> Any:
    """Responses content (a string, or ``input_text``/``output_text``/``input_image`` parts) -> message content."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid("content must be a string or a list of content parts.", param=param)
    blocks: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"{param}[{index}]"
        if kind in ("input_text", "output_text", "text"):
            blocks.append({"type": "text", "text": part.get("text")})
        elif kind == "input_image" and part.get("file_id"):
            blocks.append({"type": "image_file", "image_file": {"file_id": part["file_id"]}})
        elif kind == "input_image" and part.get("image_url"):
            blocks.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        else:
            raise invalid("Content parts are input_text, output_text or input_image.", param=f"{where}.type")
    return blocks


def message_from_item(call: Call, item: Any, *, param: str) -> dict[str, Any]:
    """One message item (``{"type": "message", "role", "content"}``, or the short form without ``type``) -> the
    message to add. Other item types are produced by responses, not added by hand."""
    if not isinstance(item, dict):
        raise invalid("Each item must be an object.", param=param)
    kind = item.get("type", "message")
    if kind != "message":
        raise invalid(f"Items of type '{kind}' cannot be added to a conversation; add messages.", param=f"{param}.type")
    role = item.get("role")
    if role not in (Message.Role.USER, Message.Role.ASSISTANT):
        raise invalid("role must be 'user' or 'assistant'.", param=f"{param}.role")
    content = content_from_item(item.get("content"), param=f"{param}.content")
    validate_content(content, param=f"{param}.content")  # checked here so the error names the item
    files_check_content(project=call.project, content=content, param=f"{param}.content")
    return {"role": role, "content": content}


def messages_from_items(call: Call, items: list[Any] | None, *, param: str = "items") -> list[dict[str, Any]]:
    if items is not None and len(items) > MAX_ITEMS_PER_CALL:
        raise invalid(f"At most {MAX_ITEMS_PER_CALL} items can be added at once.", param=param)
    return [message_from_item(call, item, param=f"{param}[{i}]") for i, item in enumerate(items or [])]


def create(call: Call) -> HttpResponseBase:
    """Create a conversation, with up to 20 initial items."""
    messages = messages_from_items(call, opt_list(call.body, "items"))
    thread = thread_create(
        project=call.project, metadata=opt_dict(call.body, "metadata"), messages=messages, conversation=True
    )
    return ok(conversation_json(thread))


def list_(call: Call) -> HttpResponseBase:
    """List the project's conversations (``agent_name``, or ``agent_id`` as ``name:version``, filter by agent)."""
    agent_name, agent_id = call.query.get("agent_name"), call.query.get("agent_id")
    agent, version = None, None
    if agent_id:
        name, _, number = agent_id.rpartition(":")
        if not name or not number.isdigit():
            raise invalid("agent_id is 'name:version'.", param="agent_id")
        agent_name, version = agent_name or name, int(number)
        if name != agent_name:
            raise invalid("agent_id names another agent than agent_name.", param="agent_id")
    if agent_name:
        agent = agent_for_name(project=call.project, name=agent_name)
        if agent is None:
            return ok({"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False})
    threads = conversations_of(project=call.project, agent=agent, version=version)
    return ok(page(threads, call.query, conversation_json))


def retrieve(call: Call, conversation_id: str) -> HttpResponseBase:
    """Get a conversation."""
    return ok(conversation_json(get_conversation(call, conversation_id)))


def update(call: Call, conversation_id: str) -> HttpResponseBase:
    """Replace a conversation's metadata."""
    thread = get_conversation(call, conversation_id)
    if "metadata" not in call.body:
        raise invalid("metadata is required.", param="metadata")
    return ok(conversation_json(thread_update(thread=thread, metadata=opt_dict(call.body, "metadata"))))


def delete(call: Call, conversation_id: str) -> HttpResponseBase:
    """Delete a conversation with its items and responses (refused while held or while a response runs)."""
    thread_delete(thread=get_conversation(call, conversation_id), trigger="api", actor_label=call.actor_label)
    return ok({"id": conversation_id, "object": "conversation.deleted", "deleted": True})


# --- items -------------------------------------------------------------------------------------------------------


def _check_include(call: Call) -> None:
    # What ``include`` can ask for (logprobs, search results, image URLs) this store does not keep: accepted and
    # answered with what there is, as the service answers for items that have none.
    for value in call.query.getlist("include") + call.query.getlist("include[]"):
        if not isinstance(value, str) or len(value) > 100:
            raise invalid("include holds item fields to add.", param="include")


def item_create(call: Call, conversation_id: str) -> HttpResponseBase:
    """Add up to 20 items to a conversation."""
    thread = get_conversation(call, conversation_id)
    _check_include(call)
    items = opt_list(call.body, "items")
    if not items:
        raise invalid("items is required (1 to 20 items).", param="items")
    messages = messages_from_items(call, items)
    with transaction.atomic():
        before = thread.message_count
        messages_add(thread=thread, items=messages, param="items")
        added = list(Message.objects.filter(thread=thread, seq__gt=before).order_by("seq"))
    data = [message_item_json(m) for m in added]
    return ok({"object": "list", "data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"], "has_more": False})


def _items_source() -> QuerySet[Message]:
    return Message.objects.select_related("run__response")


def _cursor(call: Call, thread: Thread, param: str) -> ConversationItem | None:
    item_id = call.query.get(param)
    if not item_id:
        return None
    item = conversation_item(thread=thread, item_id=item_id, messages=_items_source())
    if item is None:
        raise invalid(f"No item with id '{item_id}' in this list.", param=param)
    return item


def item_list(call: Call, conversation_id: str) -> HttpResponseBase:
    """List a conversation's items (newest first unless ``order=asc``): its messages, with the function calls its
    responses made and the function outputs they were given, in the order they entered the conversation."""
    thread = get_conversation(call, conversation_id)
    _check_include(call)
    limit, descending = limit_and_order(call.query)
    result = conversation_items_page(
        thread=thread,
        messages=_items_source(),
        limit=limit,
        descending=descending,
        after=_cursor(call, thread, "after"),
        before=_cursor(call, thread, "before"),
    )
    return ok(envelope([conversation_item_json(item) for item in result.items], has_more=result.has_more))


def _get_item(call: Call, conversation_id: str, item_id: str) -> ConversationItem:
    thread = get_conversation(call, conversation_id)
    item = conversation_item(thread=thread, item_id=item_id, messages=_items_source())
    if item is None:
        raise not_found("item", item_id)
    return item


def item_retrieve(call: Call, conversation_id: str, item_id: str) -> HttpResponseBase:
    """Get one item."""
    _check_include(call)
    return ok(conversation_item_json(_get_item(call, conversation_id, item_id)))


def item_delete(call: Call, conversation_id: str, item_id: str) -> HttpResponseBase:
    """Delete one message item; answers with the conversation. A function call or output is part of the response
    that made or took it (its run's trace reads it), so it goes with that response, not alone."""
    item = _get_item(call, conversation_id, item_id)
    if item.message is None:
        raise invalid(
            f"Item '{item_id}' is a {'function call' if item.call else 'function output'} of response "
            f"{item.response.id if item.response else ''}; it is kept while the response is, so delete the response.",
            param="item_id",
        )
    message_delete(message=item.message, actor_label=call.actor_label)
    return ok(conversation_json(Thread.objects.get(pk=item.message.thread_id)))
