"""Django admin registrations: a fallback for superusers; the console is the product's UI."""

from __future__ import annotations

from django.contrib import admin

from agents_admin.models import Agent, AgentVersion, Message, Project, Run, RunStep, Thread


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
