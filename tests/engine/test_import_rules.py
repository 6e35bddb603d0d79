"""The engine stands alone: importing it never loads the terminal side (checked in a fresh
interpreter, since this test process may already hold those modules)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("textual", "rich", "motia_tui")
ENGINE_MODULES = [
    "engine",
    "engine.server",
    "engine.runtime",
    "engine.http",
    "engine.introspect",
    "engine.stream_socket",
]

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules(*names: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *names],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_engine_never_loads_the_terminal_side(module: str) -> None:
    loaded = loaded_modules(module)
    assert module in loaded
    offending = sorted(
        name for name in loaded if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    )
    assert offending == []


def test_the_probe_would_notice() -> None:
    loaded = loaded_modules("engine", "rich.text")
    assert "rich" in loaded
