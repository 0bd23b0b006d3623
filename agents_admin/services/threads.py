"""Writes on threads and their messages."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents_admin import ids, validation
from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import ACTIVE_RUN_STATUSES, Message, MessageComment, Project, PurgeReport, Run, Thread
from agents_admin.selectors.retention import thread_is_held
from agents_admin.services import retention
from agents_admin.services.audit import Actor, audit_record
from agents_admin.services.stores import messages_add, store_for
from agents_admin.services.thread_titles import metadata_title, thread_titles_refresh
from agents_admin.services.vector_stores import vector_store_ids_check


def thread_create(
    *,
    project: Project,
    metadata: dict[str, Any] | None = None,
    messages: list[dict[str, Any]] | None = None,
    conversation: bool = False,
) -> Thread:
    """A new thread, optionally with initial messages (each ``{"role", "content", ...}``). ``conversation``: made
    through the v2 protocol, so its id is a ``conv_`` id (it is a thread like any other)."""
    metadata = validation.validate_metadata(metadata)
    with transaction.atomic():
        extra = {"id": ids.new_conversation_id()} if conversation else {}
        thread = Thread.objects.create(project=project, metadata=metadata, title=metadata_title(metadata), **extra)
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
        if thread.remote_project_id is None:
            vector_store_ids_check(thread.project_id, tool_resources)
        thread.tool_resources = tool_resources
        fields.append("tool_resources")
    with transaction.atomic():
        thread.save(update_fields=fields)
        thread_titles_refresh(Thread.objects.filter(pk=thread.pk))
    thread.title = Thread.objects.values_list("title", flat=True).get(pk=thread.pk)
    return thread


def message_update(*, message: Message, metadata: dict[str, Any] | None) -> Message:
    """Replace a message's metadata; its content never changes."""
    message.metadata = validation.validate_metadata(metadata)
    message.save(update_fields=["metadata"])
    return message


def thread_delete(
    *, thread: Thread, trigger: str = "console", actor: Actor = None, actor_label: str = ""
) -> PurgeReport:
    """Delete a thread with its messages, runs and steps, recorded as a PurgeReport (``trigger``
    "console" or "api") and in the audit log. Conflict, changing nothing, while the thread is held or a run is
    active. A thread mirrored from a remote Foundry project is deleted there first (services/remote.py)."""
    before = {"message_count": thread.message_count, "metadata": thread.metadata}
    with transaction.atomic():
        report = retention.thread_purge(
            thread=thread,
            trigger=PurgeReport.Trigger.API if trigger == "api" else PurgeReport.Trigger.CONSOLE_DELETE,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            actor_label=actor_label,
        )
        audit_record(
            action="thread.delete", actor=actor, actor_label=actor_label, object_type="thread", object_id=thread.id,
            project_id=thread.project_id, before=before,
        )  # fmt: skip
    return report


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
    return store_for(thread).message_create(
        thread=thread, role=role, content=content, attachments=attachments, metadata=metadata, agent_id=agent_id,
        run=run, status=status,
    )  # fmt: skip


def message_delete(*, message: Message, actor: Actor = None, actor_label: str = "") -> None:
    """Delete one message (a conversation item), audited. The later messages move up one place, so a thread's
    positions stay 1..message_count. Conflict, changing nothing, while a run is active on the thread (it reads
    the messages) or the thread is held."""
    thread_id = message.thread_id
    with transaction.atomic():
        thread = Thread.objects.select_for_update().get(pk=thread_id)
        if Run.objects.filter(thread_id=thread_id, status__in=ACTIVE_RUN_STATUSES).exists():
            raise Conflict(
                f"Thread {thread_id} has an active run; wait for it to end.",
                param="conversation_id",
                code="thread_has_active_run",
            )
        if thread_is_held(thread_id, timezone.now()):
            raise Conflict(f"Thread {thread_id} is on hold; nothing in it can be deleted.", code="thread_on_hold")
        MessageComment.objects.filter(message_id=message.pk).delete()  # its comments go with it
        Message.objects.filter(pk=message.pk).delete()
        later = Message.objects.filter(thread_id=thread_id, seq__gt=message.seq)
        # Two steps so no row ever takes a seq another row still has (the unique constraint is not deferred).
        top = thread.message_count
        later.update(seq=F("seq") + top)
        Message.objects.filter(thread_id=thread_id, seq__gt=top + message.seq).update(seq=F("seq") - top - 1)
        Thread.objects.filter(pk=thread_id).update(message_count=F("message_count") - 1)
        audit_record(
            action="message.delete", actor=actor, actor_label=actor_label, object_type="message",
            object_id=message.id, project_id=thread.project_id,
            before={"thread_id": thread_id, "role": message.role, "text": message.text[:200]},
        )  # fmt: skip
