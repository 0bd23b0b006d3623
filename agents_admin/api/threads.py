"""Threads and their messages."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http.response import HttpResponseBase

from agents_admin.api.base import Call, ok, opt_dict, opt_list, req_str
from agents_admin.api.errors import invalid, not_found
from agents_admin.api.pagination import page
from agents_admin.api.serializers import deleted_json, message_json, thread_json
from agents_admin.models import Message, Project, Thread
from agents_admin.services.files import files_check_attachments, files_check_content
from agents_admin.services.threads import (
    message_create,
    message_update,
    thread_create,
    thread_delete,
    thread_update,
)


def get_thread(call: Call, thread_id: str) -> Thread:
    thread = Thread.objects.filter(project=call.project, pk=thread_id).first()
    if thread is None:
        raise not_found("thread", thread_id)
    return thread


def check_messages(project: Project, messages: list[Any] | None, *, param: str) -> None:
    """Type checks the services do not make, and that attached files exist, for a list of MessageOptions."""
    for index, item in enumerate(messages or []):
        if not isinstance(item, dict):
            raise invalid("Each message must be an object.", param=f"{param}[{index}]")
        files_check_attachments(
            project=project, attachments=item.get("attachments"), param=f"{param}[{index}].attachments"
        )
        files_check_content(project=project, content=item.get("content"), param=f"{param}[{index}].content")


def thread_from_body(call: Call, body: dict[str, Any], *, param_prefix: str = "") -> Thread:
    messages = opt_list(body, "messages")
    check_messages(call.project, messages, param=f"{param_prefix}messages")
    metadata = opt_dict(body, "metadata")
    tool_resources = opt_dict(body, "tool_resources")
    with transaction.atomic():
        thread = thread_create(project=call.project, metadata=metadata, messages=messages)
        if tool_resources:
            thread = thread_update(thread=thread, metadata=thread.metadata, tool_resources=tool_resources)
    return thread


def create(call: Call) -> HttpResponseBase:
    """Create a thread, optionally with initial messages."""
    return ok(thread_json(thread_from_body(call, call.body)))


def list_(call: Call) -> HttpResponseBase:
    """List threads."""
    return ok(page(Thread.objects.filter(project=call.project), call.query, thread_json))


def retrieve(call: Call, thread_id: str) -> HttpResponseBase:
    """Get a thread."""
    return ok(thread_json(get_thread(call, thread_id)))


def update(call: Call, thread_id: str) -> HttpResponseBase:
    """Update a thread's metadata (and tool_resources)."""
    thread = get_thread(call, thread_id)
    extra: dict[str, Any] = {}
    if "tool_resources" in call.body:
        extra["tool_resources"] = opt_dict(call.body, "tool_resources")
    metadata = call.body.get("metadata", thread.metadata)
    return ok(thread_json(thread_update(thread=thread, metadata=metadata, **extra)))


def delete(call: Call, thread_id: str) -> HttpResponseBase:
    """Delete a thread with its messages and runs."""
    thread_delete(thread=get_thread(call, thread_id), trigger="api", actor_label=call.actor_label)
    return ok(deleted_json(thread_id, "thread.deleted"))


# --- messages ---------------------------------------------------------------------------------------------


def get_message(call: Call, thread_id: str, message_id: str) -> Message:
    thread = get_thread(call, thread_id)
    message = Message.objects.filter(thread=thread, pk=message_id).first()
    if message is None:
        raise not_found("message", message_id)
    return message


def message_create_(call: Call, thread_id: str) -> HttpResponseBase:
    """Add a message to a thread."""
    thread = get_thread(call, thread_id)
    role = req_str(call.body, "role")
    files_check_attachments(project=call.project, attachments=call.body.get("attachments"))
    files_check_content(project=call.project, content=call.body.get("content"))
    message = message_create(
        thread=thread,
        role=role,
        content=call.body.get("content"),
        attachments=call.body.get("attachments"),
        metadata=call.body.get("metadata"),
    )
    return ok(message_json(message))


def message_list(call: Call, thread_id: str) -> HttpResponseBase:
    """List a thread's messages (``run_id`` filters to one run's)."""
    thread = get_thread(call, thread_id)
    messages = Message.objects.filter(thread=thread)
    run_id = call.query.get("run_id")
    if run_id:
        messages = messages.filter(run_id=run_id)
    return ok(page(messages, call.query, message_json, keys=("seq",)))


def message_retrieve(call: Call, thread_id: str, message_id: str) -> HttpResponseBase:
    """Get a message."""
    return ok(message_json(get_message(call, thread_id, message_id)))


def message_update_(call: Call, thread_id: str, message_id: str) -> HttpResponseBase:
    """Update a message's metadata."""
    message = get_message(call, thread_id, message_id)
    return ok(message_json(message_update(message=message, metadata=call.body.get("metadata"))))
