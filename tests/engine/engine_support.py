"""Shared helpers for the engine tests: throwaway projects, a served engine, polling waits.

Kept out of conftest.py so test modules can import the plain functions by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from engine import Engine, Settings
from engine.server import EngineServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write `{relative_path: source}` under `root` (sources are dedented)."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return root


def _under(path: object, root: str) -> bool:
    return isinstance(path, str) and path.startswith(root)


def _search_path(module: object) -> list[str]:
    """A package's folders; a namespace package whose parent is gone has none to give."""
    try:
        return list(getattr(module, "__path__", None) or [])
    except KeyError:
        return []


@contextlib.contextmanager
def restore_imports(tmp_path: Path) -> Iterator[None]:
    """Each engine puts its project on `sys.path`, imports its steps as packages named after
    the project folder and loads the project's `.env`: a test process runs many projects one
    after another, so give every test those three back as they were."""
    saved_path = list(sys.path)
    saved_env = dict(os.environ)
    yield
    root = str(tmp_path)
    stale = [
        name
        for name, module in list(sys.modules.items())
        if _under(getattr(module, "__file__", None), root)
        or any(_under(p, root) for p in _search_path(module))
    ]
    for name in stale:
        sys.modules.pop(name, None)
    sys.path[:] = saved_path
    os.environ.clear()
    os.environ.update(saved_env)


async def wait_until(
    predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.01, what: str = ""
) -> Any:
    """Poll `predicate` (sync or async) until it answers something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def served(
    project_dir: Path,
    settings: Settings | None = None,
    *,
    mode: str = "dev",
    introspect: bool = True,
    token: str | None = None,
    cors_origins: str | None = None,
    watch: bool = False,
) -> AsyncIterator[tuple[Engine, httpx.AsyncClient]]:
    """A real engine behind a real uvicorn on a free loopback port, and a client for it."""
    engine = Engine(project_dir, settings or Settings(), mode=mode)
    server = EngineServer(
        engine,
        "127.0.0.1",
        0,
        introspect=introspect,
        token=token,
        cors_origins=cors_origins,
        watch=watch,
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
            yield engine, client
    finally:
        await server.stop()


def ws_url(client: httpx.AsyncClient, path: str) -> str:
    return str(client.base_url).replace("http://", "ws://", 1).rstrip("/") + path


@contextlib.asynccontextmanager
async def events_socket(
    client: httpx.AsyncClient, query: str = "", **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """The `/__motia/events` websocket of the served engine."""
    url = ws_url(client, "/__motia/events") + (f"?{query}" if query else "")
    async with connect(url, **kwargs) as socket:
        yield socket


async def next_event(
    socket: ClientConnection,
    match: Callable[[dict[str, Any]], bool],
    timeout: float = 20.0,
) -> dict[str, Any]:
    """Read engine events until one matches; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no matching engine event arrived")
        try:
            raw = await asyncio.wait_for(socket.recv(), remaining)
        except TimeoutError:
            raise AssertionError("no matching engine event arrived") from None
        event = json.loads(raw)
        if match(event):
            return event


async def trace_of(
    client: httpx.AsyncClient, trace_id: str, spans: int, timeout: float = 20.0
) -> dict[str, Any]:
    """A trace once it has `spans` finished spans."""

    async def ready() -> dict[str, Any] | None:
        response = await client.get(f"/__motia/traces/{trace_id}")
        if response.status_code != 200:
            return None
        trace = response.json()
        finished = [s for s in trace["spans"] if s["status"] != "running"]
        return trace if len(finished) >= spans else None

    return await wait_until(ready, timeout, what=f"trace {trace_id} with {spans} spans")


async def logs(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/__motia/logs", params=params)
    assert response.status_code == 200, response.text
    return response.json()["logs"]
