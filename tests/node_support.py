"""Node step projects for the tests: Motia's templates with their pinned packages installed,
esbuild installed once, and throwaway copies that share both.

`npm ci --ignore-scripts` runs in each template folder when its lock file changes (a stamp in
node_modules says which lock it installed), under a file lock so parallel workers install once.
Without node and npm the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import textwrap
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine.node.toolchain import ESBUILD_VERSION, find_esbuild

TEMPLATES = Path(__file__).resolve().parent / "fixtures" / "motia_templates"
TEMPLATE_NAMES = ("hello", "hello_js", "hello_multilang")
ON_CI = os.environ.get("CI") == "true"
STAMP = ".motia-lock-sha"


def require_node() -> None:
    """Node and npm, or a skip (a failure under CI=true)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not installed"
        if ON_CI:
            pytest.fail(f"{reason} (CI=true: the Node step tests must run)")
        pytest.skip(reason)


class _Locked:
    def __init__(self, name: str) -> None:
        self._path = Path(tempfile.gettempdir()) / f"motia-node-tests-{name}.lock"

    def __enter__(self) -> None:
        self._file = self._path.open("w")
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def installed_template(name: str) -> Path:
    """The template folder with `npm ci --ignore-scripts` done for its current lock file."""
    return installed(TEMPLATES / name)


def installed(folder: Path) -> Path:
    """`folder` with `npm ci --ignore-scripts` done for its current lock file."""
    require_node()
    name = folder.name
    lock = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
    stamp = folder / "node_modules" / STAMP
    with _Locked(name):
        if not stamp.exists() or stamp.read_text() != lock:
            done = subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"npm ci failed in {folder}: {done.stderr[-2000:]}"
            stamp.write_text(lock)
    return folder


def esbuild_prefix() -> Path:
    """A folder whose `.motia/node_modules` holds the engine's pinned esbuild, installed once
    by the engine's own installer."""
    require_node()
    cache = Path(tempfile.gettempdir()) / f"motia-node-tests-esbuild-{ESBUILD_VERSION}"
    with _Locked("esbuild"), ThreadPoolExecutor(1) as thread:
        # Its own loop in its own thread: async tests call this with theirs running.
        thread.submit(asyncio.run, find_esbuild(cache, lambda _line: None)).result()
    return cache / ".motia" / "node_modules"


NODE_TESTS = Path(__file__).resolve().parent / "node"


def share_packages(project: Path, template: str = "hello", packages: Path | None = None) -> Path:
    """Link node_modules (the template's, or `packages`' installed) and the cached esbuild
    into a project."""
    folder = installed(packages) if packages is not None else installed_template(template)
    (project / "node_modules").symlink_to(folder / "node_modules")
    (project / ".motia").mkdir(exist_ok=True)
    (project / ".motia" / "node_modules").symlink_to(esbuild_prefix())
    return project


def template_project(tmp_path: Path, name: str, *, share_esbuild: bool = True) -> Path:
    """A private copy of one of Motia's templates, its packages linked in."""
    source = installed_template(name)
    project = tmp_path / f"{name}_{uuid.uuid4().hex[:8]}"
    shutil.copytree(source, project, ignore=shutil.ignore_patterns("node_modules", ".motia"))
    (project / "node_modules").symlink_to(source / "node_modules")
    if share_esbuild:
        (project / ".motia").mkdir(exist_ok=True)
        (project / ".motia" / "node_modules").symlink_to(esbuild_prefix())
    return project


def node_project(tmp_path: Path, files: dict[str, str], packages: Path | None = None) -> Path:
    """A throwaway project of the given files (dedented) with zod (or the packages of the
    `packages` folder) and esbuild available."""
    project = tmp_path / f"node_{uuid.uuid4().hex[:8]}"
    project.mkdir(parents=True)
    (project / "package.json").write_text('{"type": "module", "private": true}\n')
    for relative, source in files.items():
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return share_packages(project, packages=packages)
