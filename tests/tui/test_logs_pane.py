"""The Logs pane's store and its behaviour with a million records held.

`LogBuffer` is plain data and is tested directly; the million-record test drives the real
pane in a real app and measures that keys stay quick and that a filter over everything
never holds the event loop for long.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from pane_harness import copy_project, wait_for
from textual.app import App, ComposeResult

from engine.settings import Settings
from motia_tui.log_buffer import LogBuffer
from motia_tui.log_store import RecordStore
from motia_tui.panes.logs import LogsPane, LogView
from motia_tui.source import LocalSource
from motia_tui.widgets.log_filter import parse_filter

WORKBENCH_CSS = Path(__file__).resolve().parents[2] / "motia_tui" / "workbench.tcss"
LEVELS = ("debug", "info", "info", "info", "warn", "info", "info", "error")


def record(n: int) -> dict[str, Any]:
    return {"level": LEVELS[n % len(LEVELS)], "time": 1_700_000_000_000 + n, "msg": f"event {n}",
            "traceId": f"{n % 97:032x}", "flows": ["f"], "step": f"Step{n % 5}", "n": n}


def test_ring_evicts_oldest_and_keeps_absolute_indices() -> None:
    ring = RecordStore(3, block=2)
    for n in range(5):
        ring.extend([record(n)])
    assert (ring.start, ring.end, len(ring)) == (2, 5, 3)
    assert [ring[i]["n"] for i in range(2, 5)] == [2, 3, 4]


def test_filter_scan_and_live_matches_stay_in_order() -> None:
    buffer = LogBuffer(capacity=1000)
    buffer.append([record(n) for n in range(100)])
    buffer.set_filter(parse_filter("level:error"))
    assert len(buffer) == 0 and buffer.scanning
    while buffer.scanning:
        buffer.scan(budget=7)
        buffer.append([record(len(buffer.ring))])
    shown = [buffer.record_at(i)["n"] for i in range(len(buffer))]
    assert shown == sorted(shown)
    assert all(n % len(LEVELS) == 7 for n in shown)
    expected = [n for n in range(len(buffer.ring)) if n % len(LEVELS) == 7]
    assert shown == expected


def test_eviction_trims_the_filtered_view() -> None:
    buffer = LogBuffer(capacity=16)
    buffer.append([record(n) for n in range(16)])
    buffer.set_filter(parse_filter("step:Step0"))
    while buffer.scanning:
        buffer.scan()
    assert [buffer.record_at(i)["n"] for i in range(len(buffer))] == [0, 5, 10, 15]
    removed = buffer.append([record(n) for n in range(16, 24)])
    assert removed == 2
    assert [buffer.record_at(i)["n"] for i in range(len(buffer))] == [10, 15, 20]


def test_reload_merges_without_duplicates() -> None:
    buffer = LogBuffer(capacity=100)
    live = [record(n) for n in range(10)]
    buffer.append(live[:6])
    buffer.merge(live[:8])
    buffer.append(live[6:])
    assert [buffer.record_at(i)["n"] for i in range(len(buffer))] == list(range(10))


class LogsOnly(App[None]):
    CSS_PATH = str(WORKBENCH_CSS)

    def __init__(self, project: Path) -> None:
        super().__init__()
        source = LocalSource(project, Settings(store=":memory:"), "127.0.0.1", 0, watch=False)
        self.pane = LogsPane(source, tz=UTC)

    def compose(self) -> ComposeResult:
        yield self.pane


async def test_a_million_records_stay_smooth(tmp_path: Path) -> None:
    app = LogsOnly(copy_project(tmp_path))
    pool = [{"type": "log", "time": 0, "data": record(n)} for n in range(1000)]
    async with app.run_test(size=(120, 36)) as pilot:
        pane = app.pane
        for _ in range(10):
            pane.apply_events(pool * 100)
        await pilot.pause()
        view = app.query_one(LogView)
        view.focus()
        assert len(pane.buffer) == 1_000_000
        assert view.follow

        # Liveness, not speed (bench/tui.py measures speed), and counted in this thread's CPU
        # time, which another process on a loaded machine cannot stretch: a million records
        # must not make a key press, a screen of lines or a filter's turn do work that grows
        # with history.
        clock = time.thread_time
        slowest = 0.0
        for key in ["pageup"] * 5 + ["home", "pagedown", "end", "up", "k"]:
            started = clock()
            await pilot.press(key)
            await pilot.pause()
            slowest = max(slowest, clock() - started)
        assert slowest < 2, f"a key took {slowest * 1000:.0f} ms of CPU with a million records"
        assert not view.follow

        view.scroll_to(y=500_000, animate=False, immediate=True)
        view._strips.clear()
        started = clock()
        for y in range(view.size.height):
            view.render_line(y)
        drawn = clock() - started
        assert drawn < 1, f"drawing a screen of new lines took {drawn * 1000:.0f} ms of CPU"

        stalls: list[float] = []
        running = True

        async def heartbeat() -> None:
            last = clock()
            while running:
                await asyncio.sleep(0.002)
                now = clock()
                stalls.append(now - last)
                last = now

        beat = asyncio.create_task(heartbeat())
        pane.set_filter("level:error event")
        await wait_for(lambda: not pane.buffer.scanning, timeout=60, what="the filter scan")
        running = False
        await beat
        assert len(pane.buffer) == 125_000
        assert max(stalls) < 1, f"the filter held the loop for {max(stalls) * 1000:.0f} ms of CPU"
        assert pane.buffer.record_at(len(pane.buffer) - 1)["n"] == 999


def long_record(n: int) -> dict[str, Any]:
    return {**record(n), "msg": f"event {n} " + "".join(f"word{k:03d} " for k in range(40)),
            "tail": f"END{n}"}


async def test_long_lines_scroll_sideways_and_wrap_on_demand(tmp_path: Path) -> None:
    app = LogsOnly(copy_project(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        pane.apply_events([{"type": "log", "time": 0, "data": long_record(n)} for n in range(50)])
        await pilot.pause()
        view = app.query_one(LogView)
        view.focus()
        width = view.scrollable_content_region.width

        def text(y: int) -> str:
            return view.render_line(y).text

        last = view.size.height - 1
        assert "END49" not in text(last) and len(text(last)) == width
        await pilot.press("greater_than_sign")
        assert view.x_offset == LogView.SHIFT_CELLS
        assert text(last).startswith(view._strip_for(49).text[LogView.SHIFT_CELLS:][:10])
        for _ in range(40):
            await pilot.press("greater_than_sign")
        assert "END49" in text(last)  # the end of the longest line on screen is reachable
        assert "cells right" in str(pane.query_one("#logs-status").render())
        for _ in range(50):
            await pilot.press("less_than_sign")
        assert view.x_offset == 0

        await pilot.press("w")
        assert view.wrap and view.follow
        await pilot.pause()
        rows = [text(y) for y in range(view.size.height)]
        assert "END49" in "".join(rows)  # the newest record ends the screen, whole
        assert sum("event 49 " in row for row in rows) == 1
        assert "wrapping" in str(pane.query_one("#logs-status").render())
        await pilot.press("k", "k")
        assert view.cursor == 47
        rows = [text(y) for y in range(view.size.height)]
        assert "END47" in "".join(rows)
        await pilot.press("home")
        assert text(0).split()[-1] != "" and "event 0 " in text(0)
        await pilot.press("w")
        assert not view.wrap
        assert view.render_line(0).cell_length == width


def test_a_loss_opens_a_gap_line_that_the_next_record_closes() -> None:
    buffer = LogBuffer(capacity=100)
    buffer.append([record(n) for n in range(10)])
    gap, _evicted = buffer.open_gap()
    assert (gap.since, gap.until, buffer.gaps) == (record(9)["time"], None, {10: gap})
    assert buffer.open_gap() == (gap, 0)  # nothing came between: the same line
    buffer.append([record(n) for n in range(50, 60)])
    assert gap.until == record(50)["time"]
    shown = [buffer.record_at(i) for i in range(len(buffer))]
    assert [r.get("n") for r in shown] == [*range(10), None, *range(50, 60)]
    assert shown[10]["msg"].startswith("records not shown, ")
    assert (buffer.records, buffer.not_shown) == (20, 0)


def lost_in_the_middle() -> tuple[LogBuffer, list[dict[str, Any]]]:
    """A store of 40 records, 4 a millisecond; the pane holds the first 10, lost the next
    20 and holds 5 after them; the last 5 the feed has yet to bring (the store has them)."""
    store = [{**record(n), "time": 1_000.0 + n // 4} for n in range(40)]
    buffer = LogBuffer(capacity=100)
    buffer.append(store[:10])
    buffer.open_gap()
    buffer.append(store[30:35])
    return buffer, store


def answer(store: list[dict[str, Any]], since: float, until: float,
           limit: int) -> list[dict[str, Any]]:
    """What the store answers for a time span: the newest `limit`, oldest first."""
    return [r for r in store if since <= r["time"] <= until][-limit:]


def test_a_gap_takes_what_lies_between_its_neighbours_by_identity() -> None:
    """The held records of the edges' milliseconds (one before, two after) and those still
    on their way in the feed (same millisecond as the record after) are not taken."""
    buffer, store = lost_in_the_middle()
    gap = buffer.gaps[10]
    assert (gap.since, gap.until) == (store[9]["time"], store[30]["time"])
    whole = answer(store, gap.since, gap.until, 100)
    assert whole[0] is store[8] and whole[-1] is store[31]
    assert buffer.hole(10, whole, full=False) == (store[10:30], True)
    assert buffer.hole(10, whole, full=True) == (store[10:30], True)  # it reached back
    newest = answer(store, gap.since, gap.until, 12)
    assert buffer.hole(10, newest, full=True) == (store[20:30], False)
    edge = answer(store, gap.until, gap.until, 2)
    assert buffer.hole(10, edge, full=True) == ([], False)  # only held or on its way


def test_a_gap_count_is_its_span_less_the_held_ends() -> None:
    buffer, store = lost_in_the_middle()
    gap = buffer.gaps[10]
    assert gap.until is not None
    stored = len(answer(store, gap.since, gap.until, 100))
    at_since = answer(store, gap.since, gap.since, 100)
    at_until = answer(store, gap.until, gap.until, 100)
    assert buffer.hole_count(10, stored, at_since, at_until) == 20


def test_a_gap_within_one_millisecond_counts_what_lies_between() -> None:
    store = [{**record(n), "time": 5.0} for n in range(10)]
    buffer = LogBuffer(capacity=100)
    buffer.append(store[:3])
    buffer.open_gap()
    buffer.append(store[7:9])
    at = answer(store, 5.0, 5.0, 100)
    assert buffer.hole_count(3, len(at), at, at) == 4
    assert buffer.hole(3, at, full=False) == (store[3:7], True)


def test_a_gap_filled_page_by_page_is_the_list_it_stood_for() -> None:
    """Pages read back (newest first, each put just after the gap line) leave the buffer
    exactly as if nothing had been lost, filtered or not; the line goes with the last."""
    for text in ("", "level:warn", "event 3"):
        buffer = LogBuffer(capacity=1000, block=8)
        buffer.append([record(n) for n in range(10)])
        buffer.open_gap()
        buffer.append([record(n) for n in range(50, 60)])
        buffer.set_filter(parse_filter(text))
        while buffer.scanning:
            buffer.scan()
        assert buffer.edge(10) == [record(9), record(50)]
        for first in (40, 30, 20):
            buffer.fill(10, [record(n) for n in range(first, first + 10)], done=False)
            assert buffer.gaps[10].until == record(first)["time"]
            assert buffer.gaps[10].filled == 60 - first - 10
        buffer.fill(10, [record(n) for n in range(10, 20)], done=True)
        assert buffer.gaps == {}
        while buffer.scanning:
            buffer.scan()
        expected = [n for n in range(60) if parse_filter(text).matches(record(n))]
        assert [buffer.record_at(i)["n"] for i in range(len(buffer))] == expected, text


def test_records_sharing_a_gaps_edge_millisecond_are_its_edge() -> None:
    buffer = LogBuffer(capacity=100)
    same_ms = [{**record(n), "time": 5.0} for n in range(3)]
    buffer.append(same_ms)
    buffer.open_gap()
    buffer.append([{**record(9), "time": 7.0}, record(10)])
    assert buffer.edge(3) == [same_ms[2], same_ms[1], same_ms[0], {**record(9), "time": 7.0}]
