"""What a newcomer meets first: the example project, the quick start and the CI script."""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "default"
TEMPLATE = ROOT / "motia_tui" / "templates" / "default"
IGNORED = [".motia", "__pycache__"]


def _differences(left: Path, right: Path) -> list[str]:
    """Paths that are in one tree only, or differ, relative to the two roots."""
    found: list[str] = []

    def walk(compared: filecmp.dircmp[str], prefix: str) -> None:
        found.extend(prefix + name for name in compared.left_only + compared.right_only)
        found.extend(prefix + name for name in compared.funny_files)
        _, mismatch, errors = filecmp.cmpfiles(
            compared.left, compared.right, compared.common_files, shallow=False
        )
        found.extend(prefix + name for name in mismatch + errors)
        for name, sub in compared.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(left, right, ignore=IGNORED), "")
    return found


def test_the_example_is_a_real_folder_equal_to_the_template() -> None:
    assert not EXAMPLE.is_symlink(), "running the example would write into the package"
    assert EXAMPLE.is_dir() and TEMPLATE.is_dir()
    assert not any(path.is_symlink() for path in EXAMPLE.rglob("*"))
    assert _differences(EXAMPLE, TEMPLATE) == []


def test_the_comparison_would_see_a_difference(tmp_path: Path) -> None:
    left, right = tmp_path / "left", tmp_path / "right"
    for root in (left, right):
        (root / "steps").mkdir(parents=True)
        (root / "steps" / "a_step.py").write_text("A = 1\n")
    (right / "steps" / "a_step.py").write_text("A = 2\n")
    (right / "demo.tape").write_text("Type hello\n")
    assert sorted(_differences(left, right)) == ["demo.tape", "steps/a_step.py"]


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_the_quick_start_installs_only_what_running_needs() -> None:
    blocks = _shell_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    quick_start = next(block for block in blocks if "motia dev --dir examples/default" in block)
    assert "pip install -e . &&" in quick_start
    assert "[test]" not in quick_start


def test_ci_runs_the_readmes_test_command() -> None:
    """Both halves of the README's command, in order (CI checks style and types between)."""
    blocks = _shell_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    (command,) = [b.strip() for b in blocks if "pytest" in b]
    install, run = (part.strip() for part in command.split("&&"))
    assert install == "pip install -e '.[test,demo]'"
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    install_at = ci.index(
        "python3 -m pip install --quiet --disable-pip-version-check -e '.[test,demo]'"
    )
    assert ci.index(run.replace("python -m", "python3 -m")) > install_at
