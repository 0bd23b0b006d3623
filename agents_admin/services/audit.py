"""The audit trail: one append-only record per change, sign-in event or conversation view."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from agents_admin.models import AuditEvent, Project, Thread

# Every action the app records, for the audit page's filter: a new audited action is added here too.
ACTIONS = (
    "auth.sign_in",
    "auth.sign_out",
    "auth.sign_in_failed",
    "agent.create",
    "agent.update",
    "agent.delete",
    "agent.version_create",
    "agent.version_delete",
    "agent.v2_names_assign",
    "thread.view",
    "thread.delete",
    "message.delete",
    "response.delete",
    "search.query",
    "export.inline",
    "export.create",
    "export.download",
    "export.remote",
    "run.start",
    "run.cancel",
    "run.submit_tool_outputs",
    "vector_store.create",
    "vector_store.update",
    "vector_store.delete",
    "vector_store.expire",
    "connection.create",
    "connection.update",
    "connection.delete",
    "user.create",
    "user.role_change",
    "user.deactivate",
    "user.reactivate",
    "user.otp_reset",
    "account.password_change",
    "account.otp_enable",
    "account.otp_disable",
    "price.create",
    "price.update",
    "price.delete",
    "usage.recount",
    "review_queue.create",
    "review_queue.update",
    "review.submit",
    "review.skip",
    "api_key.create",
    "api_key.revoke",
    "connection.test",
    "note.create",
    "comment.create",
    "comment.update",
    "comment.delete",
    "saved_view.create",
    "saved_view.update",
    "saved_view.delete",
    "flag.set",
    "flag.clear",
    "hold.place",
    "hold.release",
    "retention_policy.create",
    "retention_policy.update",
    "retention_policy.delete",
    "purge.start",
    "purge.stop",
    "purge.resume",
    "purge.finish",
    "remote_project.create",
    "remote_project.update",
    "remote_project.test",
    "remote_project.sync",
    "audit.export",
)

# Who did something: a user, or None with an ``actor_label`` naming another actor (an API key, beat, a command).
Actor = AbstractBaseUser | AnonymousUser | None


def audit_record(
    *,
    action: str,
    actor: Actor = None,
    actor_label: str = "",
    object_type: str = "",
    object_id: str = "",
    project: Project | None = None,
    project_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Write one audit record. ``actor`` is a user; ``actor_label`` names other actors (an API key, beat)."""
    user = actor if isinstance(actor, get_user_model()) else None
    label = actor_label or (user.get_username() if user is not None else "anonymous")
    return AuditEvent.objects.create(
        actor=user,
        actor_label=label[:150],
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:64],
        project_id=project.pk if project is not None else project_id,
        before=before,
        after=after,
        ip=client_ip(request) if request is not None else None,
    )


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the peer's, unless the peer is one of ``TRUSTED_PROXIES``; then X-Forwarded-For
    is read from the right, skipping trusted proxies, and the first other address is the client. Anything left
    of it was written by the client and is ignored, so a forged header gains nothing."""
    peer = request.META.get("REMOTE_ADDR") or None
    proxies = _trusted_proxies()
    if peer is None or not proxies or not _in(peer, proxies):
        return peer
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a mangled header: fall back to the proxy itself rather than trust it
        if not _in(hop, proxies):
            return hop
    return peer


def _trusted_proxies() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in getattr(settings, "TRUSTED_PROXIES", [])]


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that differ, as (before, after), so records stay small and readable."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def thread_view_record(
    *, thread: Thread, actor: Actor, request: HttpRequest | None = None, part: str = "page", **details: Any
) -> AuditEvent:
    """A person read a conversation: who, which thread, when, and which part (``page``, an earlier ``messages``
    page, a ``run_panel`` and its polls): every response that carries message text is one record."""
    return audit_record(
        action="thread.view", actor=actor, object_type="thread", object_id=thread.id, project_id=thread.project_id,
        after={"part": part, **details}, request=request,
    )  # fmt: skip


def search_record(*, q: str, filters: dict[str, Any], actor: Actor, request: HttpRequest | None = None) -> AuditEvent:
    """A person searched conversation text: the words and the filters, as typed (the results are message text)."""
    return audit_record(
        action="search.query", actor=actor, object_type="search", after={"q": q, "filters": filters}, request=request
    )


def export_read_record(
    *,
    action: str,
    actor: Actor,
    fmt: str,
    thread: Thread | None = None,
    filters: dict[str, Any] | None = None,
    job_id: int | None = None,
    request: HttpRequest | None = None,
    **details: Any,
) -> AuditEvent:
    """An export that hands out conversation text: streamed inline, queued as a job, or a job's file downloaded."""
    what: dict[str, Any] = {"format": fmt, **details}
    if thread is not None:
        what["thread"] = thread.id
    if filters is not None:
        what["filters"] = filters
    return audit_record(
        action=action,
        actor=actor,
        object_type="export" if job_id is not None else ("thread" if thread is not None else "threads"),
        object_id=str(job_id) if job_id is not None else (thread.id if thread is not None else ""),
        project_id=thread.project_id if thread is not None else None,
        after=what,
        request=request,
    )
