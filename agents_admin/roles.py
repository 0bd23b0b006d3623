"""Roles as code: each role is a Django group holding a fixed set of the console's permissions.

``roles_sync()`` makes the groups match this table (idempotent; runs after every migrate). Superusers have
every permission. The permission matrix in docs/security.md is generated from ROLE_PERMISSIONS.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

ADMIN = "Admin"
OPERATOR = "Operator"
REVIEWER = "Reviewer"
AUDITOR = "Auditor"

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ADMIN: (
        "view_conversations",
        "review_conversations",
        "comment_messages",
        "share_views",
        "view_agent_config",
        "edit_agents",
        "operate_runs",
        "delete_threads",
        "manage_retention",
        "manage_review_queues",
        "view_audit",
        "manage_connections",
        "manage_api_keys",
        "manage_users",
        "view_usage",
    ),
    OPERATOR: (
        "view_conversations",
        "review_conversations",
        "comment_messages",
        "share_views",
        "view_agent_config",
        "edit_agents",
        "operate_runs",
        "delete_threads",
        "view_usage",
    ),
    # Support staff: read conversations, add notes, flags and message comments, request holds, export. No agent
    # configuration, no runs, no deletion, no retention, no shared views.
    REVIEWER: ("view_conversations", "review_conversations", "comment_messages"),
    AUDITOR: ("view_audit", "view_usage"),
}
ROLES = tuple(ROLE_PERMISSIONS)
# Least privilege first: the Auditor reads the audit log and usage but no conversation; a Reviewer reads and
# exports every conversation. A new user's role starts at the first.
ROLES_LEAST_FIRST = (AUDITOR, REVIEWER, OPERATOR, ADMIN)


def perm(codename: str) -> str:
    """The full permission name for ``user.has_perm``."""
    return f"agents_admin.{codename}"


@transaction.atomic
def roles_sync() -> None:
    """Create or update the role groups so each holds exactly its permissions."""
    wanted = {codename for codenames in ROLE_PERMISSIONS.values() for codename in codenames}
    permissions = {
        p.codename: p for p in Permission.objects.filter(content_type__app_label="agents_admin", codename__in=wanted)
    }
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([permissions[c] for c in codenames if c in permissions])
