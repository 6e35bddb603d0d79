"""A runaway step that fails every event: the dead-letter queue keeps the newest
`max_dead_letters` on every store adapter, and what it drops is counted and told."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tui"))

import pytest
from engine_support import events_socket, next_event, served, wait_until, write_files
from pane_harness import wait_for
from redis_support import prefix_on, shared_url
from test_app import workbench

from engine import Settings
from engine import events as ev
from motia_tui.source import LocalSource

FAILING = {
    "steps/broken_step.py": """
        config = {"type": "event", "name": "Broken", "subscribes": ["job"], "emits": [],
                  "infrastructure": {"queue": {"maxRetries": 0}}}

        async def handler(data, ctx):
            raise RuntimeError(f"job {data['n']} failed")
    """,
}
BOUND = 5
JOBS = 12


@contextlib.contextmanager
def adapter_settings(adapter: str, root: Path) -> Iterator[Settings]:
    if adapter == "redis":
        url = shared_url()
        with prefix_on(url) as prefix:
            yield Settings(max_dead_letters=BOUND, redis_url=url, redis_prefix=prefix)
        return
    store = ":memory:" if adapter == "memory" else str(root / ".motia" / "store.sqlite3")
    yield Settings(max_dead_letters=BOUND, store=store)


@pytest.mark.parametrize("adapter", ["sqlite", "memory", "redis"])
async def test_the_dead_letter_queue_keeps_the_newest_and_counts_the_rest(
    tmp_path: Path, adapter: str
) -> None:
    root = write_files(tmp_path / "project", FAILING)
    with adapter_settings(adapter, root) as settings:
        async with served(root, settings) as (engine, client):
            async with events_socket(client) as socket:
                for n in range(JOBS):
                    await client.post("/__motia/emit", json={"topic": "job", "data": {"n": n}})
                    # one at a time, so "oldest" is the order they were sent in
                    await wait_until(
                        lambda n=n: any(i["data"]["n"] == n for i in engine.bus.dlq.values()),
                        10.0,
                        what=f"job {n} dead-lettered",
                    )
                full = await next_event(socket, lambda e: e["type"] == ev.DLQ_FULL)
            assert full["data"] == {"dropped": 1, "totalDropped": 1, "held": BOUND,
                                    "bound": BOUND}
            items = (await client.get("/__motia/dlq")).json()["items"]
            assert sorted(i["data"]["n"] for i in items) == list(range(JOBS - BOUND, JOBS))
            stats = (await client.get("/__motia/stats")).json()["deadLetters"]
            assert stats == {"held": BOUND, "bound": BOUND, "dropped": JOBS - BOUND}
            warnings = [
                r["msg"]
                for r in (await client.get("/__motia/logs?level=warn")).json()["logs"]
                if "dead-letter queue is full" in r["msg"]
            ]
            assert warnings[0] == (  # the first drop is told at once, the rest later
                f"the dead-letter queue is full (setting max_dead_letters = {BOUND}): "
                "dropped the 1 oldest; 1 dropped since start"
            )
            assert len(engine.store.dead_letters()) == BOUND
        if adapter == "sqlite":
            with contextlib.closing(sqlite3.connect(root / ".motia" / "store.sqlite3")) as db:
                (count,) = db.execute("SELECT count(*) FROM dlq").fetchone()
            assert count == BOUND


async def test_drops_after_the_first_report_are_reported_a_little_later(
    tmp_path: Path,
) -> None:
    root = write_files(tmp_path / "project", FAILING)
    settings = Settings(max_dead_letters=2, store=":memory:")
    async with served(root, settings) as (engine, client):
        engine.bus.dead_letter_bound.quiet_s = 3.0
        async with events_socket(client) as socket:
            for n in range(6):
                await client.post("/__motia/emit", json={"topic": "job", "data": {"n": n}})
                await wait_until(
                    lambda n=n: any(i["data"]["n"] == n for i in engine.bus.dlq.values()),
                    10.0,
                )
            first = await next_event(socket, lambda e: e["type"] == ev.DLQ_FULL)
            later = await next_event(socket, lambda e: e["type"] == ev.DLQ_FULL, 10.0)
        assert first["data"]["dropped"] == 1
        assert later["data"] == {"dropped": 3, "totalDropped": 4, "held": 2, "bound": 2}


async def test_the_workbench_toasts_a_full_dead_letter_queue(tmp_path: Path) -> None:
    root = write_files(tmp_path / "project", FAILING)
    source = LocalSource(
        root, Settings(max_dead_letters=1, store=":memory:"), "127.0.0.1", 0, watch=False
    )
    async with workbench(source) as (app, _pilot):

        def toasted() -> list[str]:
            return [
                n.message for n in app._notifications if n.title == "The dead-letter queue is full"
            ]

        await source.emit("job", {"n": 1})
        await source.emit("job", {"n": 2})
        await wait_for(toasted, timeout=20, what="the dead-letter toast")
        assert toasted()[0] == (
            "dropped the 1 oldest to keep 1 (setting max_dead_letters); 1 dropped since start"
        )
