"""Projects: the namespace that holds agents and threads, as a Foundry project does."""

from __future__ import annotations

from django.db import models


class Project(models.Model):
    """A namespace for agents and threads, like a Foundry project. ``default`` always exists."""

    name = models.SlugField(max_length=64, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    DEFAULT_NAME = "default"

    class Meta:
        # The console's capabilities, granted to role groups by agents_admin.roles (see the permission matrix).
        permissions = [
            ("view_conversations", "Read threads and messages"),
            ("review_conversations", "Add notes and flags, request holds, export, work review queues"),
            ("comment_messages", "Comment on a message; edit and delete one's own comments"),
            ("share_views", "Save views of Threads and Search shared with everyone"),
            ("manage_review_queues", "Define review queues: their threads, reviewers and rubric"),
            ("view_agent_config", "See agents and their configuration"),
            ("edit_agents", "Create, edit and delete agents"),
            ("operate_runs", "Add messages, start and cancel runs, submit tool outputs"),
            ("delete_threads", "Delete threads"),
            ("manage_retention", "Change retention policies, place and release holds, run purges"),
            ("view_audit", "Read the audit log and purge reports"),
            ("manage_connections", "Manage model connections, remote projects and model prices"),
            ("manage_api_keys", "Create and revoke API keys"),
            ("manage_users", "Create, deactivate users and assign roles"),
            ("view_usage", "See usage and cost charts"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.name
