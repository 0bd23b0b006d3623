"""Every action the code records is listed in services/audit.ACTIONS, so the audit page can filter by it."""

from __future__ import annotations

import ast
from pathlib import Path

import agents_admin
from agents_admin.services.audit import ACTIONS


def recorded_actions() -> dict[str, str]:
    """Each string given as ``action=`` to any call in the app (both arms of a conditional too), with its file."""
    found: dict[str, str] = {}
    root = Path(agents_admin.__file__).parent
    for path in root.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "action":
                        for value in ast.walk(keyword.value):
                            if isinstance(value, ast.Constant) and isinstance(value.value, str) and "." in value.value:
                                found[value.value] = str(path.relative_to(root))
    return found


def test_every_recorded_action_is_listed() -> None:
    found = recorded_actions()
    assert len(found) > 30  # the walk finds them at all
    assert {action: where for action, where in found.items() if action not in ACTIONS} == {}
