"""What the Node worker needs on this machine: a `node` of 18 or newer and, for TypeScript,
esbuild, taken from the project's `node_modules` or else installed once into
`.motia/node_modules` with npm (pinned, so every project transpiles alike)."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable
from pathlib import Path

MIN_NODE_MAJOR = 18
ESBUILD_VERSION = "0.28.2"
TYPESCRIPT_SUFFIXES = (".ts", ".mts", ".cts", ".tsx")
INSTALL_TIMEOUT_S = 300.0


class ToolchainError(Exception):
    """Node or esbuild cannot be had: the message says what to install."""


def find_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node was not found on the PATH (Node 18 or newer is needed)")
    return node


async def check_node(node: str) -> None:
    process = await asyncio.create_subprocess_exec(
        node, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await process.communicate()
    version = out.decode().strip() or "of unknown version"
    found = re.match(r"v(\d+)\.", version)
    if found is None or int(found.group(1)) < MIN_NODE_MAJOR:
        raise ToolchainError(f"{node} is {version}; Node {MIN_NODE_MAJOR} or newer is needed")


def esbuild_in(folder: Path) -> Path | None:
    package = folder / "node_modules" / "esbuild"
    return package if (package / "package.json").is_file() else None


def private_prefix(project_dir: Path) -> Path:
    return project_dir / ".motia"


async def find_esbuild(project_dir: Path, say: Callable[[str], None]) -> Path:
    """The project's esbuild, else the engine's own copy, installed on first need."""
    found = esbuild_in(project_dir) or esbuild_in(private_prefix(project_dir))
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError(
            "TypeScript steps need esbuild: add it to the project (npm install -D esbuild) "
            "or put npm on the PATH so it can be installed into .motia/node_modules"
        )
    prefix = private_prefix(project_dir)
    prefix.mkdir(parents=True, exist_ok=True)
    say(f"installing esbuild@{ESBUILD_VERSION} into .motia/node_modules to run TypeScript steps")
    process = await asyncio.create_subprocess_exec(
        npm,
        "install",
        f"esbuild@{ESBUILD_VERSION}",
        "--prefix",
        str(prefix),
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--prefer-offline",
        "--loglevel=error",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), INSTALL_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        raise ToolchainError("npm did not install esbuild within 5 minutes") from None
    found = esbuild_in(prefix)
    if process.returncode != 0 or found is None:
        raise ToolchainError(f"npm could not install esbuild: {err.decode().strip()[-500:]}")
    return found


def needs_transpiler(files: list[Path]) -> bool:
    return any(path.suffix in TYPESCRIPT_SUFFIXES for path in files)
