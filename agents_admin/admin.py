"""Django admin registrations: a read-only fallback for superusers; the console is the product's UI.

Mounted only when DJANGO_ADMIN_ENABLED is set (dashboard/urls.py). Every change to the app's data goes through
the services, which check the rules (holds, active runs) and write the audit trail; the admin bypasses both, so
here nothing can be added, changed or deleted: not the app's models, not users, not groups.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from agents_admin.models import Agent, AgentVersion, AuditEvent, Message, Project, Run, RunStep, Thread


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and detail pages only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ("name", "display_name", "created_at")


@admin.register(Agent)
class AgentAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "model", "version", "project", "created_at")
    search_fields = ("id", "name")


@admin.register(AgentVersion)
class AgentVersionAdmin(ReadOnlyAdmin):
    list_display = ("agent", "version", "created_at")


@admin.register(Thread)
class ThreadAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "message_count", "last_run_status", "last_activity_at", "created_at")
    list_filter = ("last_run_status", "project")
    search_fields = ("id",)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "thread", "seq", "role", "status", "created_at")
    raw_id_fields = ("thread", "agent", "run")


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ("id", "thread", "agent_ref", "status", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("thread", "agent")


@admin.register(RunStep)
class RunStepAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "type", "status", "created_at")
    raw_id_fields = ("run", "thread")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail is append-only (database triggers refuse UPDATE and DELETE)."""

    list_display = ("at", "actor_label", "action", "object_type", "object_id", "ip")
    list_filter = ("action",)
    search_fields = ("object_id", "actor_label")
    show_full_result_count = False  # no COUNT(*) over the whole log


# Users and roles are managed on the console's Users page (audited, with its rules: nobody changes their own role).
admin.site.unregister(User)
admin.site.unregister(Group)
# Second-factor devices hold each person's TOTP secret: set up by the person, reset by an admin on the console
# (confirmed and audited); never shown or changed here.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(User)
class ReadOnlyUserAdmin(ReadOnlyAdmin, UserAdmin):
    pass


@admin.register(Group)
class ReadOnlyGroupAdmin(ReadOnlyAdmin, GroupAdmin):
    pass
