"""Fixtures for the engine tests: throwaway projects under tmp_path and served engines.

Each engine puts its project on `sys.path`, imports its steps as packages named after the
project folder and loads the project's `.env` into the environment. A test process runs many
projects one after another, so every test gets those three back as they were.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_support import FIXTURES, restore_imports, served, write_files


@pytest.fixture(autouse=True)
def isolated_imports(tmp_path: Path) -> Iterator[None]:
    """Forget the modules, import paths and environment a test's projects brought in."""
    with restore_imports(tmp_path):
        yield


@pytest.fixture
def project(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write a throwaway project `{relative_path: source}` and answer its folder."""

    def write(files: dict[str, str]) -> Path:
        return write_files(tmp_path / "project", files)

    return write


@pytest.fixture
def basic_project(tmp_path: Path) -> Path:
    """The conformance project, copied so the engine's `.motia/` lands in tmp_path."""
    target = tmp_path / "basic"
    shutil.copytree(FIXTURES / "basic", target, ignore=shutil.ignore_patterns(".motia"))
    return target


@pytest.fixture
def serve() -> Callable[..., object]:
    """`async with serve(project_dir, Settings(...)) as (engine, client):`."""
    return served
