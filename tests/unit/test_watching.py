"""Which folders hot reload watches: code, never the store, hidden or vendored folders."""

from __future__ import annotations

from pathlib import Path

from engine.watching import code_folders


def test_code_folders_leave_out_hidden_and_vendored_ones(tmp_path: Path) -> None:
    for folder in ("steps", "src", "services", ".motia", ".git", "node_modules", "__pycache__",
                   "venv"):
        (tmp_path / folder).mkdir()
    (tmp_path / "helper.py").write_text("")
    assert sorted(p.name for p in code_folders(tmp_path)) == ["services", "src", "steps"]
