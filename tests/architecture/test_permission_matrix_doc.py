"""The permission matrix in docs/security.md is generated from the code and must match it."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command

from agents_admin.management.commands.permission_matrix import (
    END,
    START,
    doc_with_matrix,
    permission_matrix_markdown,
)

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_security_doc_matrix_matches_the_roles_and_the_urlconf() -> None:
    text = SECURITY_DOC.read_text()
    assert permission_matrix_markdown() in text
    assert doc_with_matrix(text) == text, "run: python manage.py permission_matrix --write docs/security.md"


def test_the_matrix_marks_what_each_role_may_do() -> None:
    matrix = permission_matrix_markdown()
    assert "| `manage_users`: Create, deactivate users and assign roles | ✓ | — | — | — |" in matrix
    assert "| `view_audit`: Read the audit log and purge reports | ✓ | — | — | ✓ |" in matrix
    assert "| `/agents/` | view_agent_config | ✓ | ✓ | 403 | 403 |" in matrix


def test_write_replaces_only_the_matrix(tmp_path: Path) -> None:
    target = tmp_path / "security.md"
    target.write_text(f"before\n{START}\nstale\n{END}\nafter\n")
    call_command("permission_matrix", write=str(target))
    text = target.read_text()
    assert text.startswith("before\n") and text.endswith(f"{END}\nafter\n") and "stale" not in text
    assert permission_matrix_markdown() in text
