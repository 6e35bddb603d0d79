"""Loads the engine's compiled extensions only when they were built from the sources beside them.

`setup.py` compiles the hot modules where it can and records each one's source hash in
`_compiled.json`. An extension built from other sources would run old code silently (an edit
in an editable install, a checkout of another commit), so then, and with `MOTIA_PURE=1`, a
finder placed first in `sys.meta_path` loads every engine module from its `.py`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
RECORD = HERE / "_compiled.json"
REBUILD = "pip install -e ."


class SourceFinder(MetaPathFinder):
    """Finds an `engine.*` module as its `.py` file, ahead of an extension of the same name."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if not fullname.startswith("engine."):
            return None
        source = source_of(fullname)
        if not source.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def source_of(module: str) -> Path:
    """`engine.a.b` -> the path of `engine/a/b.py`."""
    return HERE.joinpath(*module.split(".")[1:]).with_suffix(".py")


def compiled_modules() -> list[str]:
    """The engine modules with an extension file beside their source."""
    names = []
    for entry in HERE.iterdir():
        for suffix in EXTENSION_SUFFIXES:
            module = f"engine.{entry.name.removesuffix(suffix)}"
            if entry.name.endswith(suffix) and source_of(module).exists():
                names.append(module)
    return names


def stale_reason(modules: list[str]) -> str | None:
    """Why these extensions must not be loaded, or None when each matches its source."""
    try:
        recorded = json.loads(RECORD.read_text())
    except (OSError, ValueError):
        return f"{RECORD.name} is missing or unreadable (an unfinished build)"
    for module in modules:
        source = source_of(module)
        if recorded.get(module) != hashlib.sha256(source.read_bytes()).hexdigest():
            return f"{source.name} changed since they were built"
    return None


def load_only_current_extensions() -> None:
    """Called by `engine/__init__.py` before any other engine module is imported."""
    modules = compiled_modules()
    if not modules:
        return
    if os.environ.get("MOTIA_PURE") == "1":
        sys.meta_path.insert(0, SourceFinder())
        return
    reason = stale_reason(modules)
    if reason is None:
        return
    sys.meta_path.insert(0, SourceFinder())
    warnings.warn(
        f"the engine's compiled extensions are not used: {reason}; the engine runs as pure "
        f"Python until they are rebuilt with `{REBUILD}`",
        RuntimeWarning,
        stacklevel=2,
    )
