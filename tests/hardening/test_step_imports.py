"""A step file that is slow or never ends at import: `motia dev` still serves the other steps,
reports the file with the line it was stuck on, hears SIGTERM, and a hot reload of it never
stalls the requests of the steps already serving."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from engine_support import served, wait_until, write_files
from process_support import motia

from engine import Settings

PING = """
    config = {"type": "api", "name": "Ping", "path": "/ping", "method": "GET"}

    async def handler(req, ctx):
        return {"status": 200, "body": {"pong": True}}
"""
LOOPS = """
    config = {"type": "api", "name": "Loops", "path": "/loops", "method": "GET"}

    while True:
        pass
"""
SLEEPS = """
    import time

    config = {"type": "api", "name": "Sleeps", "path": "/sleeps", "method": "GET"}
    time.sleep(6)

    async def handler(req, ctx):
        return {"status": 200, "body": {"slept": True}}
"""
WAITS = """
    import time
    from pathlib import Path

    config = {"type": "api", "name": "Waits", "path": "/waits", "method": "GET"}
    while not (Path(__file__).resolve().parent.parent / "release").exists():
        time.sleep(0.02)

    async def handler(req, ctx):
        return {"status": 200, "body": {"version": 1}}
"""
FIXED = """
    config = {"type": "api", "name": "Waits", "path": "/waits", "method": "GET"}

    async def handler(req, ctx):
        return {"status": 200, "body": {"version": 2}}
"""


@pytest.fixture
def released(project: Callable[[dict[str, str]], Path]) -> Iterator[Path]:
    """A project with the ping step; a stuck `WAITS` import is let go at the end."""
    project_dir = project({"steps/ping_step.py": PING})
    yield project_dir
    (project_dir / "release").touch()


def test_a_step_looping_at_import_neither_stops_serving_nor_sigterm(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project({"steps/ping_step.py": PING, "steps/loops_step.py": LOOPS})
    with motia(["dev", "--no-tui"], project_dir, {"MOTIA_IMPORT_TIMEOUT_S": "2"}) as running:
        took = running.wait_serving(timeout=30)
        assert took < 15, took
        assert httpx.get(f"{running.url}/ping").json() == {"pong": True}
        line = running.wait_for_line("loops_step.py:3: import did not finish within 2s")
        assert "it was running loops_step.py:3" in line
        assert "may keep using a core until the process exits" in line
        signalled = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        code = running.wait_exit(10)
        assert code == 0, running.output
        assert time.monotonic() - signalled < 5


MARKS_AND_LOOPS = """
    from pathlib import Path

    config = {"type": "api", "name": "Loops", "path": "/loops", "method": "GET"}
    (Path(__file__).resolve().parent.parent / "importing").touch()
    while True:
        pass
"""


def test_sigterm_while_a_step_is_stuck_at_import_stops_at_once(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project({"steps/ping_step.py": PING, "steps/loops_step.py": MARKS_AND_LOOPS})
    with motia(["dev", "--no-tui"], project_dir, {"MOTIA_IMPORT_TIMEOUT_S": "120"}) as running:
        running.wait_until(lambda: (project_dir / "importing").exists(), timeout=60)
        time.sleep(0.5)
        assert running.process.poll() is None
        signalled = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        code = running.wait_exit(10)
        assert code == 0, running.output
        assert time.monotonic() - signalled < 5


async def ping_latencies(client: httpx.AsyncClient, until: Callable[[], bool]) -> list[float]:
    """Answer times of /ping, sent one after another until `until()` holds."""
    latencies: list[float] = []
    deadline = time.monotonic() + 20
    while not until() and time.monotonic() < deadline:
        sent = time.monotonic()
        response = await client.get("/ping")
        assert response.status_code == 200
        latencies.append(time.monotonic() - sent)
        await asyncio.sleep(0.02)
    return latencies


@pytest.mark.parametrize("source", [SLEEPS, WAITS], ids=["sleeps 6 s", "never ends"])
async def test_a_hot_reload_of_a_slow_import_does_not_stall_requests(
    released: Path, source: str
) -> None:
    """Imported on the loop, the file held every request for its whole 6 s (or for ever);
    off it, the pings go on (the bound leaves room for a loaded machine's hiccups)."""
    settings = Settings(store=":memory:", import_timeout_s=8)
    async with served(released, settings, watch=True) as (engine, client):
        step = released / "steps" / "slow_step.py"
        write_files(released, {"steps/slow_step.py": source})
        await wait_until(lambda: engine.importer._loads, what="the reload to begin")

        def settled() -> bool:
            return "Sleeps" in engine.steps or step in engine.errors

        latencies = await ping_latencies(client, settled)
        assert settled(), "the reload never ended"
        assert len(latencies) > 10
        assert max(latencies) < 3.0, max(latencies)


async def test_a_fixed_file_loads_while_its_stuck_import_still_runs(released: Path) -> None:
    step = released / "steps" / "waits_step.py"
    write_files(released, {"steps/waits_step.py": WAITS})
    settings = Settings(store=":memory:", import_timeout_s=1)
    async with served(released, settings) as (engine, client):
        error = engine.errors[step]
        assert error.line == 6
        assert "import did not finish within 1s" in error.message
        assert "it was running waits_step.py:6" in error.message
        assert (await client.get("/ping")).status_code == 200
        assert (await client.get("/waits")).status_code == 404
        write_files(released, {"steps/waits_step.py": FIXED})
        await engine.load_file(step)
        assert (await client.get("/waits")).json() == {"version": 2}
        assert engine.importer.abandoned == 1
        (released / "release").touch()
        await wait_until(lambda: engine.importer.abandoned == 0, what="the stuck import to end")
        assert (await client.get("/waits")).json() == {"version": 2}
