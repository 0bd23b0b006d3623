"""Django admin registrations: a fallback for superusers; the console is the product's UI."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from agents_admin.models import Agent, AgentVersion, AuditEvent, Message, Project, Run, RunStep, Thread


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "display_name", "created_at")


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "model", "version", "project", "created_at")
    search_fields = ("id", "name")


@admin.register(AgentVersion)
class AgentVersionAdmin(admin.ModelAdmin):
    list_display = ("agent", "version", "created_at")


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "message_count", "last_run_status", "last_activity_at", "created_at")
    list_filter = ("last_run_status", "project")
    search_fields = ("id",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "thread", "seq", "role", "status", "created_at")
    raw_id_fields = ("thread", "agent", "run")


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "thread", "agent_ref", "status", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("thread", "agent")


@admin.register(RunStep)
class RunStepAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "type", "status", "created_at")
    raw_id_fields = ("run", "thread")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only from the app, the Django admin included."""

    list_display = ("at", "actor_label", "action", "object_type", "object_id", "ip")
    list_filter = ("action",)
    search_fields = ("object_id", "actor_label")
    show_full_result_count = False  # no COUNT(*) over the whole log

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
