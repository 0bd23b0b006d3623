from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AgentsAdminConfig(AppConfig):
    name = "agents_admin"
    verbose_name = "Agents Admin"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents_admin import signals

        post_migrate.connect(signals.sync_roles_after_migrate, sender=self)
