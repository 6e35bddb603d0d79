"""A plain `def` handler that never returns: shutdown still ends within its grace (a second
signal at once), a timed-out run frees its slot, stuck threads are bounded (then 503, with the
log saying why), waiting for a thread is not the handler's time, plain hooks obey the same
rules, and an engine error around a handler never stops a delivery worker."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from engine_support import logs, served, wait_until, ws_url
from process_support import motia
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine import Settings

STEPS = {
    "steps/hang_step.py": """
        import time
        from pathlib import Path

        config = {"type": "api", "name": "Hang", "path": "/hang", "method": "GET"}

        def handler(req, ctx):
            release = Path(__file__).resolve().parent.parent / "release"
            while not release.exists():
                time.sleep(0.05)
            return {"status": 200, "body": {"released": True}}
    """,
    "steps/forever_step.py": """
        import time

        config = {"type": "api", "name": "Forever", "path": "/forever", "method": "GET"}

        def handler(req, ctx):
            while True:
                time.sleep(1)
    """,
    "steps/quick_step.py": """
        import time

        config = {"type": "api", "name": "Quick", "path": "/quick", "method": "GET"}

        def handler(req, ctx):
            time.sleep(float(req.queryParams.get("sleep", 0)))
            return {"status": 200, "body": {"ok": True}}
    """,
}


@pytest.fixture
def hang_project(project: Callable[[dict[str, str]], Path]) -> Iterator[Path]:
    """The project; its stuck handlers are let go at the end so no thread outlives the test."""
    project_dir = project(STEPS)
    yield project_dir
    (project_dir / "release").touch()


def request_in_background(url: str) -> threading.Thread:
    def call() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=60)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def wait_running(url: str, step: str, count: int = 1) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stats = httpx.get(f"{url}/__motia/stats", timeout=5).json()["steps"]
        if stats.get(step, {}).get("running", 0) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{step} never ran")


def test_sigterm_exits_within_the_grace_while_a_sync_handler_hangs(hang_project: Path) -> None:
    with motia(["dev", "--no-tui"], hang_project, {"MOTIA_SHUTDOWN_GRACE_S": "4"}) as running:
        running.wait_serving()
        request_in_background(f"{running.url}/forever")
        wait_running(running.url, "Forever")
        signalled = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        code = running.wait_exit(10)
        took = time.monotonic() - signalled
    assert code is not None, "motia never exited after SIGTERM:\n" + running.output
    assert took < 4 + 1.5, took


def test_a_second_signal_exits_at_once(hang_project: Path) -> None:
    with motia(["start"], hang_project, {"MOTIA_SHUTDOWN_GRACE_S": "60"}) as running:
        running.wait_serving()
        request_in_background(f"{running.url}/forever")
        deadline = time.monotonic() + 10
        while "Forever" not in running.output and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        running.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert running.process.poll() is None, "the hung request should hold the first stop"
        second = time.monotonic()
        running.process.send_signal(signal.SIGINT)
        code = running.wait_exit(5)
        took = time.monotonic() - second
    assert code == 128 + signal.SIGINT, running.output
    assert took < 2, took


async def test_a_timed_out_sync_run_frees_its_slot(hang_project: Path) -> None:
    settings = Settings(
        store=":memory:", thread_pool_size=2, handler_timeout_s=1, max_abandoned_threads=8
    )
    async with served(hang_project, settings) as (engine, client):
        hung = await asyncio.gather(*(client.get("/hang") for _ in range(4)))
        assert [r.status_code for r in hung] == [500] * 4
        assert all("timed out after 1s" in r.json()["error"] for r in hung)
        assert engine.executor.pool.abandoned == 4
        quick = await client.get("/quick")
        assert quick.status_code == 200, quick.text


async def test_past_the_bound_on_stuck_threads_def_handlers_answer_503(hang_project: Path) -> None:
    settings = Settings(store=":memory:", thread_pool_size=2, handler_timeout_s=1)
    async with served(hang_project, settings) as (_engine, client):
        hung = await asyncio.gather(*(client.get("/hang") for _ in range(2)))
        assert [r.status_code for r in hung] == [500, 500]
        refused = await client.get("/quick")
        assert refused.status_code == 503
        assert refused.json()["error"].startswith("Quick failed: sync pool exhausted: 2 thread")
        records = await logs(client, level="error")
        assert any(r["msg"].startswith("sync pool exhausted") for r in records), records
        (hang_project / "release").touch()
        await wait_until(lambda: _engine.executor.pool.abandoned == 0, what="threads returned")
        again = await client.get("/quick")
        assert again.status_code == 200


async def test_waiting_for_a_thread_does_not_count_toward_the_timeout(
    hang_project: Path,
) -> None:
    """Eight runs of 0.4 s on two threads: the last waits 1.6 s for a thread, past the 1 s
    timeout, and still has its whole second to run."""
    settings = Settings(store=":memory:", thread_pool_size=2, handler_timeout_s=1)
    async with served(hang_project, settings) as (_engine, client):
        answers = await asyncio.gather(
            *(client.get("/quick", params={"sleep": "0.4"}) for _ in range(8))
        )
        assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]


AUTH = """
    import time
    from pathlib import Path

    def authenticate(headers, query):
        if query.get("hang"):
            release = Path(__file__).resolve().parent / "release"
            while not release.exists():
                time.sleep(0.05)
        return {"user": "u"}
"""


async def test_a_hung_plain_authenticate_hook_times_out_and_frees_its_thread(
    hang_project: Path,
) -> None:
    (hang_project / "motia_auth.py").write_text(AUTH.replace("\n    ", "\n"))
    settings = Settings(
        store=":memory:", thread_pool_size=1, handler_timeout_s=1, max_abandoned_threads=4
    )
    async with served(hang_project, settings) as (engine, client):
        started = time.monotonic()
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(client, "/") + "?hang=1", open_timeout=10):
                pass
        assert refused.value.response.status_code == 401
        assert time.monotonic() - started < 5
        assert engine.executor.pool.abandoned == 1
        quick = await client.get("/quick")
        assert quick.status_code == 200, quick.text
        async with connect(ws_url(client, "/"), open_timeout=10):
            pass


async def test_an_engine_error_outside_the_handler_never_stops_delivery(
    project: Callable[[dict[str, str]], Path],
) -> None:
    """A queued event whose stored data is not JSON (written by another tool, or damaged)
    fails in the engine before any handler runs: it is logged as an engine error and moved to
    the dead-letter queue, and every other delivery still runs."""
    project_dir = project(
        {
            "steps/count_step.py": """
                config = {"type": "event", "name": "Count", "subscribes": ["count"]}

                async def handler(data, ctx):
                    await ctx.state.set("counts", str(data["n"]), True)
            """,
        }
    )
    store = project_dir / ".motia" / "store.sqlite3"
    settings = Settings(store=str(store))
    async with served(project_dir, settings):
        pass
    with sqlite3.connect(store) as conn:
        conn.execute(
            "INSERT INTO queue VALUES ('bad-1', 1, 'count', 'Count', '{not json', 't-1', NULL, "
            "1, 0)"
        )
    conn.close()
    async with served(project_dir, settings) as (engine, client):
        records = await wait_until(
            lambda: [
                r
                for r in engine.logs.recent
                if r["msg"].startswith("engine error delivering 'count' to Count")
            ],
            what="the engine error record",
        )
        assert records[0]["level"] == "error"
        dlq = (await client.get("/__motia/dlq")).json()
        assert [item["id"] for item in dlq["items"]] == ["bad-1"]
        for number in range(20):
            assert (await client.post("/__motia/emit", json={
                "topic": "count", "data": {"n": number}})).status_code == 202
        await wait_until(lambda: len(engine.state.get_group("counts")) == 20, what="20 counts")
