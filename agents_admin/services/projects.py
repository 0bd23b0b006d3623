from __future__ import annotations

from agents_admin.models import Project


def project_default() -> Project:
    """The ``default`` project, created on first use."""
    project, _ = Project.objects.get_or_create(name=Project.DEFAULT_NAME, defaults={"display_name": "Default project"})
    return project
