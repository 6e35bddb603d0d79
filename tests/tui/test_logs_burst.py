"""A burst of records faster than the workbench's tick: the Logs pane keeps every one.

A step that logs 5,000 records a run, called 20 times in a row, used to leave the pane
with 60,002 of its 100,002 records and no sign of the rest, and a filter for a missing one
answered "0 match" although the store held it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from pane_harness import copy_project, wait_for

from engine.settings import Settings
from motia_tui.app import WorkbenchApp, make_workbench
from motia_tui.log_buffer import GAP_PAGE
from motia_tui.panes.logs import LogsPane
from motia_tui.source import FEED_SIZE, LocalSource

RUNS = 20
PER_RUN = 5_000
CHATTY = f'''
config = {{"type": "api", "name": "Chatty", "path": "/chatty", "method": "POST", "emits": [],
          "flows": ["greetings"]}}
COUNT = [0]


async def handler(req, context):
    COUNT[0] += 1
    for line in range({PER_RUN}):
        context.logger.info("chatty line", {{"run": COUNT[0], "line": line}})
    return {{"status": 200, "body": {{"run": COUNT[0]}}}}
'''


def chatty(lines: int) -> str:
    return CHATTY.replace(f"range({PER_RUN})", f"range({lines})")


class Reads:
    """The pane's reads of the source's log store, watched: how many at once, the largest
    answer, and a gate that can hold them."""

    def __init__(self, source: LocalSource) -> None:
        self.source = source
        self.logs = source.logs
        self.open = asyncio.Event()
        self.open.set()
        self.at_once = self.most_at_once = self.largest = 0
        source.logs = self.read  # type: ignore[method-assign]

    async def read(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            await self.open.wait()
            answer = await self.logs(*args, **kwargs)
        finally:
            self.at_once -= 1
        self.largest = max(self.largest, len(answer))
        return answer


def run_lines(pane: LogsPane) -> list[tuple[Any, Any]]:
    ring = pane.buffer.ring
    return [(r.get("run"), r.get("line")) for i in range(ring.start, ring.end)
            if (r := ring[i]).get("run") is not None]


def chatty_workbench(tmp_path: Path, *, feed_size: int = FEED_SIZE,
                     lines: int = PER_RUN) -> tuple[LocalSource, WorkbenchApp]:
    """The workbench on a project whose `/chatty` logs `lines` records a run, its feed
    holding `feed_size` events."""
    project = copy_project(tmp_path)
    (project / "steps" / "chatty_step.py").write_text(chatty(lines), encoding="utf-8")
    source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False, feed_size=feed_size)
    return source, make_workbench(source)


async def burst_then_check(tmp_path: Path, *, hidden: bool, feed_size: int = FEED_SIZE) -> None:
    source, app = chatty_workbench(tmp_path, feed_size=feed_size)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), timeout=30, what="the workbench to start")
        await pilot.press("1" if hidden else "4")
        pane = app.query_one(LogsPane)
        async with httpx.AsyncClient(base_url=source.label, timeout=60) as client:
            for _run in range(RUNS):
                assert (await client.post("/chatty", json={})).status_code == 200
        await pilot.press("4")

        expected = [(run, line) for run in range(1, RUNS + 1) for line in range(PER_RUN)]
        await wait_for(lambda: len(pane.buffer.ring) >= len(expected), timeout=60,
                       what=f"{len(expected):,} records in the pane, not {len(pane.buffer.ring)}")
        await wait_for(lambda: not pane.refilling, timeout=60, what="the refill")
        got = run_lines(pane)
        missing = sorted(set(expected) - set(got))
        assert got == expected, (len(got), len(missing), missing[:3], missing[-3:])

        pane.set_filter("run.: 7, .line.: 2345}")
        await wait_for(lambda: not pane.buffer.scanning, timeout=30, what="the filter scan")
        assert len(pane.buffer) == 1
        assert pane.buffer.record_at(0)["line"] == 2345


async def test_a_burst_while_the_logs_pane_is_hidden_is_kept_whole(tmp_path: Path) -> None:
    await burst_then_check(tmp_path, hidden=True)


async def test_a_burst_the_feed_cannot_hold_is_read_back_from_the_store(tmp_path: Path) -> None:
    """A feed of 4,000 events overflows on every run: each loss is refilled in order."""
    await burst_then_check(tmp_path, hidden=False, feed_size=4_000)


async def test_a_loss_past_what_a_refill_reads_is_a_gap_line_enter_and_filters_fill(
    tmp_path: Path,
) -> None:
    """A feed of 2,000 events and refills of 3,000 records: each run of 5,000 loses more
    than a refill reads back, so the pane shows gap lines saying how many records each
    stands for. `Enter` on one reads its records back; a filter for a record inside another
    finds it (one match, not none) because it reads the gaps first; then every record is
    there, in order."""
    runs = 4
    source, app = chatty_workbench(tmp_path, feed_size=2_000)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), timeout=30, what="the workbench to start")
        await pilot.press("4")
        pane = app.query_one(LogsPane)
        pane.refill_limit = 3_000
        buffer, view = pane.buffer, pane.view
        async with httpx.AsyncClient(base_url=source.label, timeout=60) as client:
            for _run in range(runs):
                assert (await client.post("/chatty", json={})).status_code == 200
        # The requests are answered before their records have all crossed the feed: wait
        # until every stored record is either held or counted in a gap (or time runs out).
        deadline = time.monotonic() + 60
        while True:
            await pilot.pause(0.1)
            stored = await source.count_logs()
            held = buffer.records
            settled = (not pane.refilling and buffer.gaps and stored >= runs * PER_RUN
                       and all(g.count is not None for g in buffer.gaps.values()))
            if (settled and held + buffer.not_shown == stored) or time.monotonic() > deadline:
                break
        assert settled, "the refills and the gaps counted"
        assert held + buffer.not_shown == stored, (held, buffer.not_shown, stored)
        status = str(pane.query_one("#logs-status").render())
        assert f"{buffer.not_shown:,} not shown in {len(buffer.gaps)} gap" in status

        expected = [(run, line) for run in range(1, runs + 1) for line in range(PER_RUN)]

        first, *others = sorted(buffer.gaps)
        assert others, "more than one gap: Enter reads one, the filter the others"
        gap = buffer.gaps[first]
        assert gap.count is not None
        shown = f"{gap.count:,} records not shown"
        await pilot.press("home")
        for _line in range(first - buffer.ring.start):
            view.action_cursor(1)
        await pilot.pause()
        rows = [view.render_line(y).text for y in range(view.size.height)]
        assert any(shown in row and "Enter reads them" in row for row in rows), rows
        before = buffer.not_shown
        await pilot.press("enter")
        await wait_for(lambda: first not in buffer.gaps and pane._reading is None, timeout=30,
                       what="the first gap read back")
        assert buffer.not_shown == before - gap.count
        assert app.screen is pane.screen  # Enter on a gap line opens no record

        missing = sorted(set(expected) - set(run_lines(pane)))
        assert missing, "the other gaps stand for chatty lines"
        run, line = missing[len(missing) // 2]
        pane.set_filter(f"run.: {run}, .line.: {line}}}")
        await wait_for(lambda: not buffer.scanning and pane._reading is None, timeout=60,
                       what="the gaps read back and the filter scan")
        assert len(buffer) == 1
        assert buffer.record_at(0)["line"] == line
        assert not buffer.gaps and buffer.not_shown == 0
        assert run_lines(pane) == expected
        assert len(buffer.ring) == stored


async def test_records_after_a_loss_are_shown_at_once(tmp_path: Path) -> None:
    """A run of 3,000 records through a feed of 500: the newest are shown as soon as the
    feed brings them, with a gap line above them, while the store has not answered for
    the loss yet; when it does, the gap is filled and every record is there in order."""
    source, app = chatty_workbench(tmp_path, feed_size=500, lines=3_000)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), timeout=30, what="the workbench to start")
        await pilot.press("4")
        pane = app.query_one(LogsPane)
        reads = Reads(source)
        reads.open.clear()
        async with httpx.AsyncClient(base_url=source.label, timeout=60) as client:
            assert (await client.post("/chatty", json={})).status_code == 200
        await wait_for(lambda: (1, 2_999) in run_lines(pane), timeout=30,
                       what="the newest record shown while the store is asked")
        assert pane.buffer.gaps, "a gap line stands for the records lost"
        assert len(run_lines(pane)) < 3_000
        reads.open.set()
        await wait_for(lambda: not pane.refilling and not pane.buffer.gaps, timeout=60,
                       what="the loss read back")
        assert run_lines(pane) == [(1, line) for line in range(3_000)]


async def test_a_feed_overflowing_again_and_again_is_read_back_a_page_at_a_time(
    tmp_path: Path,
) -> None:
    """Runs of 15,000 records through a feed of 1,000, with read-backs of up to 12,000 a
    loss: the store is asked one page at a time (never all of a read-back at once, so the
    records the pane holds outside its list stay bounded however often the feed
    overflows), and at the end every record is either shown or counted in a gap line, the
    counts matching the store's exactly."""
    runs = 4
    lines = 15_000
    source, app = chatty_workbench(tmp_path, feed_size=1_000, lines=lines)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), timeout=30, what="the workbench to start")
        await pilot.press("4")
        pane = app.query_one(LogsPane)
        pane.refill_limit = 12_000
        buffer, view = pane.buffer, pane.view
        reads = Reads(source)
        async with httpx.AsyncClient(base_url=source.label, timeout=60) as client:
            for _run in range(runs):
                assert (await client.post("/chatty", json={})).status_code == 200
        deadline = time.monotonic() + 60
        while True:
            await pilot.pause(0.1)
            stored = await source.count_logs()
            settled = (not pane.refilling and stored >= runs * lines
                       and all(g.count is not None for g in buffer.gaps.values()))
            if settled and buffer.records + buffer.not_shown == stored:
                break
            assert time.monotonic() < deadline, (buffer.records, buffer.not_shown, stored)
        assert reads.most_at_once == 1
        assert 0 < reads.largest <= GAP_PAGE + 1_000
        assert buffer.gaps, "the losses were larger than a read-back"
        got = run_lines(pane)
        assert got == sorted(got) and len(set(got)) == len(got)

        await pilot.press("home")
        for index, gap in sorted(buffer.gaps.items()):
            assert gap.count is not None
            while buffer.index_at(view.cursor) != index:
                view.action_cursor(1)
            await pilot.pause()
            rows = [view.render_line(y).text for y in range(view.size.height)]
            assert any(f"{gap.count:,} records not shown" in row for row in rows), rows
