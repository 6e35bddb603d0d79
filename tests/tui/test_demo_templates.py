"""Every new project has a `demo.tape`, whatever its language, and it runs: the TypeScript,
JavaScript and mixed templates name their steps and logs as the Python one does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from node_support import share_packages
from test_demo import demo

ROOT = Path(__file__).resolve().parents[2]
PYTHON_TAPE = ROOT / "motia_tui" / "templates" / "default" / "demo.tape"
MOTIA = [sys.executable, "-m", "motia_tui.cli"]


def create(tmp_path: Path, lang: str) -> Path:
    subprocess.run([*MOTIA, "create", "shop", "--lang", lang], cwd=tmp_path, check=True,
                   capture_output=True, text=True)
    return tmp_path / "shop"


@pytest.mark.parametrize("lang", ["py", "ts", "js", "multi"])
def test_create_writes_the_demo_script_in_every_language(tmp_path: Path, lang: str) -> None:
    assert (create(tmp_path, lang) / "demo.tape").read_text() == PYTHON_TAPE.read_text()


def test_the_mixed_templates_demo_runs(tmp_path: Path) -> None:
    project = share_packages(create(tmp_path, "multi"))
    done = demo(Path("demo.tape"), project, "--no-gif")
    assert done.returncode == 0, done.stderr
    for made in ("demo.cast", "flows.svg", "trace.svg", "state.svg"):
        assert (project / made).stat().st_size > 0, made
