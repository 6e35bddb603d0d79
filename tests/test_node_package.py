"""The Node worker ships inside the Python package: setuptools' build of the packages (what a
wheel holds) carries its JavaScript and the new templates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_build_carries_the_worker_and_the_templates(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "build_py", "-d",
         str(tmp_path)],
        cwd=ROOT, check=True, capture_output=True, timeout=300,
    )
    assert (tmp_path / "engine" / "node" / "worker.mjs").is_file()
    assert (tmp_path / "engine" / "node" / "hooks.mjs").is_file()
    for lang in ("ts", "js", "multi"):
        assert (tmp_path / "motia_tui" / "templates" / lang / "package.json").is_file()
    assert (tmp_path / "motia_tui/templates/ts/steps/orders/place-order-api.step.ts").is_file()
