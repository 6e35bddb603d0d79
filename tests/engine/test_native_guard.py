"""The compiled engine is used only when it was built from the sources beside it.

Each probe copies the engine package to a temporary folder and imports it in a fresh
interpreter. An "extension" there is a file that cannot load: a probe that imports it fails,
so a probe that imports its module succeeds only when the guard sent the import to the `.py`.
The build itself is checked by running `setup.py` in a copy of the project.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine.http
from engine import native

REPO = Path(__file__).resolve().parents[2]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def copy_of_engine(root: Path) -> Path:
    package = root / "engine"
    shutil.copytree(
        REPO / "engine",
        package,
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "_compiled.json"),
    )
    return package


def fake_extension(package: Path, module: str) -> None:
    (package / f"{module}{SUFFIX}").write_bytes(b"not a shared library")


def record(package: Path, modules: list[str]) -> None:
    hashes = {
        f"engine.{name}": hashlib.sha256((package / f"{name}.py").read_bytes()).hexdigest()
        for name in modules
    }
    (package / "_compiled.json").write_text(json.dumps(hashes))


def without_motia_pure() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "MOTIA_PURE"}


def probe(root: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**without_motia_pure(), "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


IMPORT_BUS = "import engine.bus; print(engine.bus.__file__)"


def test_extensions_that_match_their_record_are_loaded(tmp_path: Path) -> None:
    package = copy_of_engine(tmp_path)
    fake_extension(package, "bus")
    record(package, ["bus"])
    result = probe(tmp_path, IMPORT_BUS)
    assert result.returncode != 0
    assert f"bus{SUFFIX}" in result.stderr or "invalid ELF header" in result.stderr


def test_a_source_changed_since_the_build_runs_from_source_with_a_warning(
    tmp_path: Path,
) -> None:
    package = copy_of_engine(tmp_path)
    fake_extension(package, "bus")
    record(package, ["bus"])
    with (package / "bus.py").open("a") as source:
        source.write("\nEDITED = True\n")
    result = probe(tmp_path, IMPORT_BUS + "; print(engine.bus.EDITED)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(package / "bus.py"), "True"]
    assert "bus.py changed since they were built" in result.stderr
    assert "pip install -e ." in result.stderr


def test_extensions_without_a_record_run_from_source_with_a_warning(tmp_path: Path) -> None:
    package = copy_of_engine(tmp_path)
    fake_extension(package, "bus")
    result = probe(tmp_path, IMPORT_BUS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(package / "bus.py")
    assert "_compiled.json is missing or unreadable" in result.stderr


def test_motia_pure_runs_every_module_from_source_silently(tmp_path: Path) -> None:
    package = copy_of_engine(tmp_path)
    fake_extension(package, "bus")
    record(package, ["bus"])
    result = probe(tmp_path, IMPORT_BUS, MOTIA_PURE="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(package / "bus.py")
    assert result.stderr == ""


def test_an_uncompiled_engine_needs_no_record_and_warns_nothing(tmp_path: Path) -> None:
    package = copy_of_engine(tmp_path)
    result = probe(tmp_path, IMPORT_BUS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(package / "bus.py")
    assert result.stderr == ""


def copy_of_project(root: Path) -> Path:
    project = root / "project"
    project.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, project / name)
    copy_of_engine(project)
    (project / "engine" / "_compiled.json").write_text("{}")
    return project


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"CC": "/nonexistent/cc"}, "no C compiler: the engine is installed as pure Python"),
        ({"MOTIA_PURE": "1"}, "MOTIA_PURE=1: the engine is installed as pure Python"),
    ],
)
def test_a_build_without_a_compiler_or_with_motia_pure_is_pure(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    project = copy_of_project(tmp_path)
    fake_extension(project / "engine", "bus")
    fake_extension(project / "engine", "_native__mypyc")
    result = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=project,
        env={**without_motia_pure(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert said in result.stderr
    assert not (project / "engine" / "_compiled.json").exists(), "an earlier record is left"
    assert not list((project / "engine").glob(f"*{SUFFIX}")), "an earlier build is left"


def test_the_installed_engine_imports_from_any_folder(tmp_path: Path) -> None:
    """The compiled modules share one library; it lives inside the package, so a `motia` run
    from a project's folder finds it as the checkout's own folder would."""
    result = subprocess.run(
        [sys.executable, "-c", "import engine.http; print(engine.http.__file__)"],
        cwd=tmp_path,
        env={k: v for k, v in without_motia_pure().items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == engine.http.__file__


def test_the_ci_install_is_compiled() -> None:
    """CI installs with a compiler: the engine it tests is the one users get."""
    compiled = Path(engine.http.__file__).suffix != ".py"
    if os.environ.get("CI") != "true" and not compiled:
        pytest.skip("this install is pure Python (no compiler, or MOTIA_PURE=1)")
    assert compiled or os.environ.get("MOTIA_PURE") == "1", engine.http.__file__
    assert native.stale_reason(native.compiled_modules()) is None
