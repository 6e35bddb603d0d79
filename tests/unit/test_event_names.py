"""The workbench names engine events only through `engine.events`, never by string."""

from __future__ import annotations

import ast
from pathlib import Path

from engine.events import EVENT_TYPES

PACKAGE = Path(__file__).resolve().parents[2] / "motia_tui"


def test_motia_tui_spells_no_event_type() -> None:
    spelled = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "templates" not in path.parts
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in EVENT_TYPES
    ]
    assert spelled == []
