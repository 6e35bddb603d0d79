"""Builds the engine's hot modules as C extensions with mypyc, where it can.

The project is pure Python either way: without a C compiler, with `MOTIA_PURE=1`, or when the
build fails, the same modules run from their `.py` files. A compiled build writes
`engine/_compiled.json` (each module's source hash), which `engine.native` reads at start to
decide whether the extensions match the sources beside them.
"""

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
RECORD = Path("engine") / "_compiled.json"

COMPILED = [
    "bus",
    "context",
    "effects",
    "events",
    "execution",
    "http",
    "http_protocol",
    "jsonio",
    "logs",
    "records",
    "run_lifecycle",
    "run_operations",
    "runs",
    "state",
    "tracing",
    "triggers",
    "workers",
]
"""The modules a request or a step run goes through; the rest (discovery, the CLI, the
introspection API) run once or rarely, and compiling them would only lengthen the build."""

BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}
"""pip asks for metadata several times before it builds; translating to C is for a build."""


def has_compiler() -> bool:
    command = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shutil.which(command.split()[0]) is not None


def source_hashes() -> dict[str, str]:
    return {
        f"engine.{name}": hashlib.sha256((HERE / "engine" / f"{name}.py").read_bytes()).hexdigest()
        for name in COMPILED
    }


def pure_reason() -> str | None:
    """Why this build compiles nothing, or None when it can compile."""
    if os.environ.get("MOTIA_PURE") == "1":
        return "MOTIA_PURE=1"
    if not has_compiler():
        return "no C compiler"
    if importlib.util.find_spec("mypyc") is None:
        return "mypyc is not installed"
    return None


class RecordingBuildExt(build_ext):
    """Writes the record once every extension is built; a failed build installs the pure
    engine rather than failing the install."""

    def run(self) -> None:
        record = self._record_path()
        record.unlink(missing_ok=True)
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as failure:  # a compiler error of any kind: the pure engine still runs
            print(
                f"building the compiled engine failed ({failure}): installed as pure Python",
                file=sys.stderr,
            )
            return
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(source_hashes(), indent=1, sort_keys=True) + "\n")

    def get_outputs(self) -> list[str]:
        return [*super().get_outputs(), str(self._record_path())]

    def _record_path(self) -> Path:
        return HERE / RECORD if self.inplace else Path(self.build_lib) / RECORD


def extensions() -> list[Any]:
    if not BUILD_COMMANDS.intersection(sys.argv[1:]):
        return []
    reason = pure_reason()
    if reason is None:
        from mypyc.build import mypycify

        try:
            return mypycify(
                [f"engine/{name}.py" for name in COMPILED],
                opt_level="3",
                debug_level="0",
                group_name="engine._native",
            )
        except (Exception, SystemExit) as failure:  # mypyc reports its errors, then exits
            reason = f"translating the engine to C failed ({failure})"
    print(f"{reason}: the engine is installed as pure Python", file=sys.stderr)
    remove_earlier_build()
    return []


def remove_earlier_build() -> None:
    """An in-place build (an editable install) left extensions beside the sources; a pure
    build removes them, so that nothing is left for the guard to refuse with a warning."""
    (HERE / RECORD).unlink(missing_ok=True)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for extension in (HERE / "engine").glob(f"*{suffix}"):
            extension.unlink()


setup(ext_modules=extensions(), cmdclass={"build_ext": RecordingBuildExt})
