"""Reads about projects: a project's id by name."""

from __future__ import annotations

from agents_admin.models import Project


def project_id_named(name: str) -> int | None:
    """The id of the project with this name, or None."""
    return Project.objects.filter(name=name).values_list("id", flat=True).first()
