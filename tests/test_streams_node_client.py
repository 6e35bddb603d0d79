"""Motia's published node stream client, unchanged, against our server.

The client (`@motiadev/stream-client-node`, pinned in tests/node/package.json) is installed
with `npm ci` into tests/node on first use. Without node and npm the tests skip, except under
CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_streams_socket import start_server

from engine.server import EngineServer

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "stream_client_check.mjs"
PACKAGE = "@motiadev/stream-client-node"
FIXTURE = Path(__file__).parent / "fixtures" / "streams_project"
ON_CI = os.environ.get("CI") == "true"


def _unavailable(reason: str) -> None:
    if ON_CI:
        pytest.fail(f"{reason} (CI=true: the node client check must run)")
    pytest.skip(reason)


def _pinned_version() -> str:
    return json.loads((NODE_DIR / "package.json").read_text())["dependencies"][PACKAGE]


def _installed_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / PACKAGE / "package.json"
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text()).get("version")


@pytest.fixture(scope="module")
def node() -> Iterator[str]:
    """The node binary, with the pinned client installed next to the script."""
    node_bin, npm = shutil.which("node"), shutil.which("npm")
    if node_bin is None or npm is None:
        _unavailable("node and npm are not installed")
    assert node_bin is not None and npm is not None
    key = hashlib.sha1(str(NODE_DIR).encode()).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"motia-node-client-{key}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version() != _pinned_version():
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0:
                _unavailable(f"npm ci failed: {done.stderr.strip()[-2000:]}")
    assert _installed_version() == _pinned_version()
    yield node_bin


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[EngineServer]:
    project = tmp_path / f"streams_{tmp_path.name}"
    shutil.copytree(FIXTURE, project)
    srv = await start_server(project)
    yield srv
    await srv.stop()


class NodeClient:
    """The node script as a process whose notifications are read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, node: str, srv: EngineServer, plan: dict[str, Any]) -> NodeClient:
        process = await asyncio.create_subprocess_exec(
            node,
            str(SCRIPT),
            f"ws://127.0.0.1:{srv.port}",
            json.dumps(plan),
            cwd=NODE_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def line(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert raw, f"the client exited with {await self.process.wait()}"
        line = json.loads(raw)
        assert "error" not in line, f"the client failed: {line['error']}"
        return line

    async def lines(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The next `count` notifications, in the order of their subscriptions."""
        got = [await self.line(timeout) for _ in range(count)]
        return sorted(got, key=lambda line: line["sub"])

    async def finish(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return await asyncio.wait_for(self.process.wait(), 10)


async def test_node_client_follows_groups_and_items(node: str, server: EngineServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        await http.post("/items/todo/g1/a", json={"title": "A"})
        await http.post("/items/private/bob/secret", json={"note": "bob's"})
        a = {"title": "A", "id": "a"}
        client = await NodeClient.start(
            node,
            server,
            {
                "protocols": ["Authorization", "alice"],
                "subscriptions": [
                    {"kind": "group", "stream": "todo", "group": "g1", "events": ["ping"]},
                    {
                        "kind": "item",
                        "stream": "todo",
                        "group": "g1",
                        "id": "b",
                        "events": ["ping"],
                    },
                    {"kind": "group", "stream": "private", "group": "bob", "events": ["error"]},
                    {"kind": "group", "stream": "private", "group": "alice"},
                    {"kind": "item", "stream": "todo", "group": "g1", "id": "a"},
                ],
            },
        )
        assert await client.lines(4) == [
            {"sub": 0, "state": [a]},
            {"sub": 1, "state": None},
            {"sub": 3, "state": []},
            {"sub": 4, "state": a},
        ]

        await http.post("/items/todo/g1/b", json={"title": "B"})
        b = {"title": "B", "id": "b"}
        assert await client.lines(2) == [{"sub": 0, "state": [a, b]}, {"sub": 1, "state": b}]

        await http.post("/items/todo/g1/b", json={"title": "B2", "done": True})
        b2 = {"title": "B2", "done": True, "id": "b"}
        assert await client.lines(2) == [{"sub": 0, "state": [a, b2]}, {"sub": 1, "state": b2}]

        await http.post("/events/todo/g1", json={"type": "ping", "data": {"n": 1}, "id": "b"})
        await http.post("/events/todo/g1", json={"type": "ping", "data": {"n": 2}})
        assert await client.lines(3) == [
            {"sub": 0, "event": "ping", "data": {"n": 1}},
            {"sub": 0, "event": "ping", "data": {"n": 2}},
            {"sub": 1, "event": "ping", "data": {"n": 1}},
        ]

        await http.delete("/items/todo/g1/b")
        assert await client.lines(2) == [{"sub": 0, "state": [a]}, {"sub": 1, "state": None}]

        await http.post("/items/private/bob/more", json={"note": "still bob's"})
        await http.post("/items/private/alice/mine", json={"note": "alice's"})
        assert await client.lines(1) == [
            {"sub": 3, "state": [{"note": "alice's", "id": "mine"}]}
        ], "the refused subscription saw data"

        for n in range(30):
            await http.post("/items/todo/g1/a", json={"title": f"A{n}"})
        last = [await client.line() for _ in range(60)][-2:]
        assert sorted(last, key=lambda line: line["sub"]) == [
            {"sub": 0, "state": [{"title": "A29", "id": "a"}]},
            {"sub": 4, "state": {"title": "A29", "id": "a"}},
        ]

        await server.stream_socket.close_all()
        await http.post("/items/todo/g1/c", json={"title": "while away"})
        resynced = await client.lines(4)
        assert resynced[0] == {
            "sub": 0,
            "state": [{"title": "A29", "id": "a"}, {"title": "while away", "id": "c"}],
        }
        assert [line["sub"] for line in resynced] == [0, 1, 3, 4]
        assert await client.finish() == 0


async def test_node_client_refused_by_authenticate_sees_401(
    node: str, server: EngineServer
) -> None:
    client = await NodeClient.start(
        node,
        server,
        {
            "protocols": ["Authorization", "deny"],
            "subscriptions": [{"kind": "group", "stream": "todo", "group": "g1"}],
        },
    )
    assert client.process.stdout is not None
    line = json.loads(await asyncio.wait_for(client.process.stdout.readline(), 10))
    assert line == {"error": "Unexpected server response: 401"}
    assert await asyncio.wait_for(client.process.wait(), 10) == 3
