"""Fixtures for the hardening tests: the engine tests' helpers, throwaway projects, and the
imports and environment each project brings in put back as they were."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "engine"))

from engine_support import restore_imports, write_files


@pytest.fixture(autouse=True)
def isolated_imports(tmp_path: Path) -> Iterator[None]:
    with restore_imports(tmp_path):
        yield


@pytest.fixture
def project(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write a throwaway project `{relative_path: source}` and answer its folder."""

    def write(files: dict[str, str]) -> Path:
        return write_files(tmp_path / "project", files)

    return write
