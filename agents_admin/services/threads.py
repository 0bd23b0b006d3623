"""Writes on threads and their messages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents_admin import validation
from agents_admin.errors import Conflict, InvalidInput, LimitExceeded
from agents_admin.models import ACTIVE_RUN_STATUSES, Message, Project, PurgeReport, Run, Thread
from agents_admin.services import remote, retention
from agents_admin.services.audit import Actor, audit_record

MAX_TEXT_LENGTH = 1_500_000


def thread_create(
    *, project: Project, metadata: dict[str, Any] | None = None, messages: list[dict[str, Any]] | None = None
) -> Thread:
    """A new thread, optionally with initial messages (each ``{"role", "content", ...}``)."""
    metadata = validation.validate_metadata(metadata)
    with transaction.atomic():
        thread = Thread.objects.create(project=project, metadata=metadata)
        messages_add(thread=thread, items=messages or [], param="messages")
        thread.refresh_from_db()
    return thread


def thread_update(*, thread: Thread, metadata: dict[str, Any] | None, **extra: Any) -> Thread:
    """Replace the metadata (and ``tool_resources`` when given)."""
    fields = ["metadata"]
    thread.metadata = validation.validate_metadata(metadata)
    if "tool_resources" in extra:
        tool_resources = extra["tool_resources"]
        if tool_resources is not None and not isinstance(tool_resources, dict):
            raise InvalidInput("tool_resources must be an object.", param="tool_resources")
        thread.tool_resources = tool_resources
        fields.append("tool_resources")
    thread.save(update_fields=fields)
    return thread


def message_update(*, message: Message, metadata: dict[str, Any] | None) -> Message:
    """Replace a message's metadata; its content never changes."""
    message.metadata = validation.validate_metadata(metadata)
    message.save(update_fields=["metadata"])
    return message


def thread_delete(
    *, thread: Thread, trigger: str = "console", user: Any = None, actor: Actor = None, actor_label: str = ""
) -> PurgeReport:
    """Delete a thread with its messages, runs, steps and files, recorded as a PurgeReport (``trigger``
    "console" or "api") and in the audit log. Conflict, changing nothing, while the thread is held or a run is
    active. A thread mirrored from a remote Foundry project is deleted there first (services/remote.py)."""
    actor = actor if actor is not None else user
    before = {"message_count": thread.message_count, "metadata": thread.metadata}
    with transaction.atomic():
        report = retention.thread_purge(
            thread=thread,
            trigger=PurgeReport.Trigger.API if trigger == "api" else PurgeReport.Trigger.CONSOLE_DELETE,
            user=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            action="thread.delete", actor=actor, actor_label=actor_label, object_type="thread", object_id=thread.id,
            project_id=thread.project_id, before=before,
        )  # fmt: skip
    return report


def content_parts(content: Any, *, param: str = "content") -> tuple[list[dict[str, Any]], str]:
    """Normalise message input (a string, or a list of input blocks) to output parts and their plain text."""
    if isinstance(content, str):
        if not content.strip():
            raise InvalidInput("Message content must not be empty.", param=param)
        blocks: list[Any] = [{"type": "text", "text": content}]
    elif isinstance(content, list) and content:
        blocks = content
    else:
        raise InvalidInput("Message content must be a string or a non-empty list of content blocks.", param=param)
    parts: list[dict[str, Any]] = []
    texts: list[str] = []
    for index, block in enumerate(blocks):
        where = f"{param}[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            value = block.get("text")
            if isinstance(value, dict):  # already in output shape
                value = value.get("value")
            if not isinstance(value, str):
                raise InvalidInput("A text block needs a string 'text'.", param=f"{where}.text")
            validation.reject_nul(value, param=param if isinstance(content, str) else f"{where}.text")
            parts.append({"type": "text", "text": {"value": value, "annotations": []}})
            texts.append(value)
        elif kind == "image_file":
            file_id = (block.get("image_file") or {}).get("file_id")
            if not isinstance(file_id, str) or not file_id:
                raise InvalidInput("An image_file block needs image_file.file_id.", param=f"{where}.image_file")
            parts.append({"type": "image_file", "image_file": {"file_id": file_id}})
        elif kind == "image_url":
            url = (block.get("image_url") or {}).get("url")
            if not isinstance(url, str) or not url.startswith(("https://", "http://", "data:image/")):
                raise InvalidInput(
                    "An image_url block needs an http(s) or data:image URL.", param=f"{where}.image_url.url"
                )
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            raise InvalidInput("Content blocks are text, image_file or image_url.", param=f"{where}.type")
    text = "\n".join(texts)
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"Message text is longer than {MAX_TEXT_LENGTH:,} characters.", param=param)
    return parts, text


def messages_add(*, thread: Thread, items: list[Any], param: str) -> None:
    """Add API-shaped messages (each ``{"role", "content", ...}``) in order; InvalidInput names ``param[i]``.
    Callers hold the transaction, so a bad item leaves none of them behind."""
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput("Each message must be an object.", param=f"{param}[{index}]")
        message_create(
            thread=thread,
            role=item.get("role", ""),
            content=item.get("content"),
            attachments=item.get("attachments"),
            metadata=item.get("metadata"),
        )


def message_create(
    *,
    thread: Thread,
    role: str,
    content: Any,
    attachments: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    agent_id: str | None = None,
    run: Run | None = None,
    status: str = Message.Status.COMPLETED,
) -> Message:
    """Append a message. Refused while another run is active on the thread (unless it is that run writing),
    and once the thread holds MAX_MESSAGES_PER_THREAD messages."""
    if thread.remote_project_id is not None and run is None:  # mirrored: added on the remote, then mirrored
        return remote.remote_message_create(thread=thread, content=content, role=role)
    if role not in Message.Role.values:
        raise InvalidInput("role must be 'user' or 'assistant'.", param="role")
    parts, text = content_parts(content)
    if attachments is not None and not isinstance(attachments, list):
        raise InvalidInput("attachments must be a list.", param="attachments")
    metadata = validation.validate_metadata(metadata)
    limit = settings.MAX_MESSAGES_PER_THREAD
    now = timezone.now()
    with transaction.atomic():
        if run is None:
            active = Run.objects.filter(thread=thread, status__in=ACTIVE_RUN_STATUSES).only("id").first()
            if active is not None:
                raise Conflict(
                    f"Thread {thread.id} already has an active run {active.id}.",
                    param="thread_id",
                    code="thread_has_active_run",
                )
        # The conditional increment both reserves the next sequence number and enforces the limit.
        updated = Thread.objects.filter(pk=thread.pk, message_count__lt=limit).update(
            message_count=F("message_count") + 1, last_activity_at=now
        )
        if not updated:
            raise LimitExceeded(
                f"Thread {thread.id} has reached the limit of {limit:,} messages; start a new thread.",
                param="thread_id",
                code="thread_message_limit",
            )
        seq = Thread.objects.values_list("message_count", flat=True).get(pk=thread.pk)
        message = Message.objects.create(
            thread=thread,
            seq=seq,
            role=role,
            content=parts,
            text=text,
            attachments=attachments or [],
            metadata=metadata,
            agent_id=agent_id,
            run=run,
            status=status,
            completed_at=now if status == Message.Status.COMPLETED else None,
        )
    thread.message_count = seq
    thread.last_activity_at = now
    return message
