"""`import engine` is cheap: the public names load on first use, and every one still resolves.

Each probe runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import engine

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("engine.runtime", "engine.server", "engine.http", "engine.execution", "engine.store",
         "uvicorn", "starlette", "httpx", "croniter", "jsonschema", "pydantic")


def fresh(code: str) -> object:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def engine_modules(loaded: object) -> list[str]:
    """The engine's modules among those loaded, leaving out the library the compiled modules
    share (`engine._native__mypyc`), which each compiled module loads first."""
    assert isinstance(loaded, list)
    return [name for name in loaded if name.startswith("engine.") and not name.endswith("__mypyc")]


def test_importing_engine_loads_only_the_extension_guard_and_no_server() -> None:
    """`engine.native` decides, before any other engine module loads, whether the compiled
    extensions may be used."""
    loaded = fresh("import json, sys, engine; print(json.dumps(sorted(sys.modules)))")
    assert engine_modules(loaded) == ["engine.native"]
    assert [name for name in loaded if name.startswith(HEAVY)] == []


def test_the_event_types_load_without_the_runtime() -> None:
    loaded = fresh("import json, sys, engine.events; print(json.dumps(sorted(sys.modules)))")
    assert engine_modules(loaded) == [
        "engine.event_types",
        "engine.events",
        "engine.native",
    ]


def test_every_public_name_resolves_to_its_home() -> None:
    assert set(engine.__all__) == set(engine._HOMES)
    same = fresh(
        "import importlib, json, engine\n"
        "print(json.dumps({n: getattr(engine, n) is getattr(importlib.import_module(h), n)"
        " for n, h in engine._HOMES.items()}))"
    )
    assert same == dict.fromkeys(engine.__all__, True)
    star = fresh("import json\nfrom engine import *\nprint(json.dumps(sorted(dir())))")
    assert isinstance(star, list) and set(engine.__all__) <= set(star)
    assert set(engine.__all__) <= set(dir(engine))


def test_a_step_file_import_still_works_as_before() -> None:
    names = fresh(
        "import json\n"
        "from engine import ApiRequest, Engine, FlowContext, Settings, StepError\n"
        "print(json.dumps([c.__qualname__ for c in (ApiRequest, Engine, FlowContext,"
        " Settings, StepError)]))"
    )
    assert names == ["ApiRequest", "Engine", "FlowContext", "Settings", "StepError"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        engine.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("engine.NoSuchThing resolved")
