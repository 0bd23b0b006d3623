"""Reads about projects: the search form's choices and a project's id by name."""

from __future__ import annotations

from agents_admin.models import Project


def projects_named() -> list[tuple[str, str]]:
    """(name, display name) of every project, by name: the search form's project choices."""
    return list(Project.objects.order_by("name").values_list("name", "display_name"))


def project_id_named(name: str) -> int | None:
    """The id of the project with this name, or None."""
    return Project.objects.filter(name=name).values_list("id", flat=True).first()
