"""The Logs pane: every structured record, live, filterable, smooth with a million held.

Records live in a fixed-capacity ring addressed by absolute index, so eviction never shifts
anything and rendered strips can be cached by that index. A filter keeps the matching
indices; a new filter is applied by scanning backwards from the newest record in small
chunks between frames, so the tail the user is looking at appears first and the shared
event loop (the engine and its HTTP server) is never held for long.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Mapping
from datetime import tzinfo
from functools import partial
from typing import Any, ClassVar

from rich.segment import Segment
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from engine import events as ev
from engine.events import WireEvent
from motia_tui import messages
from motia_tui.log_buffer import (
    CAPACITY,
    GAP_PAGE,
    REFILL_LIMIT,
    RELOAD_LIMIT,
    SCAN_SLICE_S,
    Gap,
    LogBuffer,
    clean,
)
from motia_tui.source import EngineSource, SourceError
from motia_tui.textual_hooks import StripCache
from motia_tui.widgets.line_view import LineView
from motia_tui.widgets.log_filter import format_record, parse_filter

REFILLS_QUEUED = 32
"""Losses waiting to be read back on their own: past it the oldest is left to its gap line
(counted, Enter reads it), so a feed that overflows on every tick queues no more than this.
A burst of twenty runs that each overflow the feed is read back whole even when the reader,
sharing the loop with them, falls behind all of them (it fell 14 behind at load 9)."""
CLOSE_WAIT_S = 1.0
"""How long a loss waits for a record to follow it before its gap is closed at the store's
newest record."""
STRIPS_CACHED = 128
"""Rendered lines kept, a few screens' worth: a strip is a dozen objects (its segments and
seven caches of its own) that the collector walks, and a tail followed under load renders
new lines every frame, so a larger cache only holds lines nobody will see again."""


class LogView(LineView, can_focus=True):
    """Draws a `LogBuffer` through the line API: only the visible lines are ever rendered."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log--time",
        "log--debug",
        "log--info",
        "log--warn",
        "log--error",
        "log--step",
        "log--trace",
        "log--msg",
        "log--key",
        "log--value",
        "log--cursor",
        "log--gap",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="list-up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="list-down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="list-page-up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="list-page-down"),
        Binding("home,g", "top", "Oldest", show=False, id="list-first"),
        Binding("end,G", "follow", "Follow tail", id="logs-follow"),
        Binding("enter", "details", "Record", id="logs-record"),
        Binding("t", "trace", "Its trace", id="logs-trace"),
        Binding("y", "copy", "Copy", id="logs-copy"),
        Binding("less_than_sign", "shift(-1)", "Left", id="logs-left"),
        Binding("greater_than_sign", "shift(1)", "Right", id="logs-right"),
        Binding("w", "toggle_wrap", "Wrap", id="logs-wrap"),
    ]
    SHIFT_CELLS = 20
    """How far `<` and `>` move the view sideways."""

    CURSOR_COMPONENT = "log--cursor"

    follow: reactive[bool] = reactive(True)
    wrap: reactive[bool] = reactive(False)
    """Long records take as many rows as they need (the scroll position counts records)."""
    x_offset: reactive[int] = reactive(0)
    """Cells of every record scrolled out on the left, when not wrapping."""

    class Changed(Message):
        """Something the status line shows changed."""

    class FillGap(Message):
        """`Enter` on a gap line: read its records back from the store."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, buffer: LogBuffer, *, tz: tzinfo | None = None, id: str | None = None):
        super().__init__(id=id)
        self.buffer = buffer
        self.tz = tz
        self._strips: StripCache[int, Strip] = StripCache(STRIPS_CACHED)
        self._rows_key: tuple[int, ...] | None = None
        self._rows: list[tuple[int, Strip]] = []

    # -- data ------------------------------------------------------------------------

    def lines_changed(self, removed_on_top: int = 0, added_on_top: int = 0) -> None:
        """Resize the virtual area after the buffer changed; keep a paused view still."""
        count = len(self.buffer)
        height = self.scrollable_content_region.height
        tail = self._tail_top(height) if self.wrap else max(0, count - height)
        # While wrapping the scroll position counts records, and the last screen starts at
        # `tail`: the scrollable height makes that the bottom.
        self.set_line_count(tail + height if self.wrap and count else count)
        if self.follow:
            self.cursor = max(0, count - 1)
            self.scroll_to(y=tail, animate=False, immediate=True)
        else:
            shift = added_on_top - removed_on_top
            if shift:
                self.cursor = min(max(0, self.cursor + shift), max(0, count - 1))
                target = max(0.0, self.scroll_y + shift)
                self.set_scroll(None, min(target, max(0, count - height)))
        self.refresh()
        self.post_message(self.Changed())

    def reset(self) -> None:
        self._strips.clear()
        self.follow = True
        self.lines_changed()

    # -- rendering -------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def _strip_for(self, index: int) -> Strip:
        """A record's whole line, however long (cropped, shifted or wrapped when drawn)."""
        gap = self.buffer.gaps.get(index)
        if gap is not None:
            return Strip([Segment(f"── {gap.text()} ──", self.style_of("log--gap"))])
        strip = self._strips.get(index)
        if strip is None:
            record = self.buffer.ring[index]
            segments = [
                Segment(clean(text), self.style_of(f"log--{name[4:]}" if name else ""))
                for text, name in format_record(record, self.tz)
            ]
            strip = self._strips[index] = Strip(segments)
        return strip

    def line_count(self) -> int:
        return len(self.buffer)

    def line_strip(self, line: int, width: int) -> Strip:
        x = self.x_offset
        return self._strip_for(self.buffer.index_at(line)).crop_extend(x, x + width,
                                                                          self.base_style)

    def render_line(self, y: int) -> Strip:
        if not self.wrap:
            return super().render_line(y)
        width = self.scrollable_content_region.width
        rows = self._wrapped_rows(width, self.scrollable_content_region.height)
        if y >= len(rows):
            return Strip.blank(width, self.base_style)
        line, strip = rows[y]
        if line == self.cursor and self.has_focus:
            strip = strip.apply_style(self.component(self.CURSOR_COMPONENT))
        return strip

    def _wrapped_rows(self, width: int, height: int) -> list[tuple[int, Strip]]:
        """The rows on screen while wrapping, from the record at the scroll position down:
        only the visible records are wrapped, whatever the buffer holds."""
        key = (int(self.scroll_y), width, height, len(self.buffer), self.buffer.ring.end)
        if key != self._rows_key:
            rows: list[tuple[int, Strip]] = []
            line = int(self.scroll_y)
            while len(rows) < height and line < len(self.buffer):
                rows.extend((line, piece) for piece in self._wrapped(line, width))
                line += 1
            self._rows, self._rows_key = rows[:height], key
        return self._rows

    def _wrapped(self, line: int, width: int) -> list[Strip]:
        full = self._strip_for(self.buffer.index_at(line))
        length = full.cell_length
        if length <= width:
            return [full.extend_cell_length(width, self.base_style)]
        cuts = [*range(width, length, max(1, width)), length]  # the last piece ends the line
        return [piece.extend_cell_length(width, self.base_style) for piece in full.divide(cuts)]

    def _tail_top(self, height: int, last: int | None = None) -> int:
        """While wrapping, the first record of a screen that ends with record line `last`
        (the newest by default)."""
        width = self.scrollable_content_region.width
        end = len(self.buffer) if last is None else last + 1
        line, used = end, 0
        while line > 0:
            used += len(self._wrapped(line - 1, width))
            if used > height:
                break
            line -= 1
        return min(line, max(0, end - 1))

    def on_resize(self, event: events.Resize) -> None:
        self.lines_changed()

    def action_shift(self, direction: int) -> None:
        """Scroll every line sideways (`<` `>`); wrapping shows whole lines instead."""
        if self.wrap:
            return
        widest = max(
            (self._strip_for(self.buffer.index_at(line)).cell_length
             for line in range(int(self.scroll_y),
                               min(len(self.buffer), int(self.scroll_y) + self.size.height))),
            default=0,
        )
        limit = max(0, widest - self.scrollable_content_region.width)
        self.x_offset = max(0, min(self.x_offset + direction * self.SHIFT_CELLS, limit))

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.x_offset = 0
        self._rows_key = None
        if self.wrap and not self.follow:
            self.scroll_to(y=min(self.cursor, max(0, len(self.buffer) - 1)), animate=False,
                           immediate=True)
        self.lines_changed()

    def watch_x_offset(self) -> None:
        self.refresh()
        self.post_message(self.Changed())

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- moving ------------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and new_value < self.max_scroll_y:
            self.follow = False
        elif new_value >= self.max_scroll_y and not self.follow and old_value != new_value:
            self.follow = True

    def watch_follow(self, follow: bool) -> None:
        self.post_message(self.Changed())

    def _move_to(self, line: int) -> None:
        count = len(self.buffer)
        if count == 0:
            return
        line = min(max(0, line), count - 1)
        self.follow = line == count - 1 and self.follow
        self.cursor = line
        top = int(self.scroll_y)
        height = max(1, self.size.height)
        if line < top:
            self.scroll_to(y=line, animate=False, immediate=True)
        elif self.wrap:
            width = self.scrollable_content_region.width
            shown = sum(1 for row, _ in self._wrapped_rows(width, height) if row == line)
            if shown < min(len(self._wrapped(line, width)), height):
                self.scroll_to(y=self._tail_top(height, line), animate=False, immediate=True)
        elif line >= top + height:
            self.scroll_to(y=line - height + 1, animate=False, immediate=True)
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        if delta < 0:
            self.follow = False
        self._move_to(self.cursor + delta)
        if self.cursor == len(self.buffer) - 1 and delta > 0:
            self.follow = True

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 1))

    def action_top(self) -> None:
        self.follow = False
        self._move_to(0)

    def action_follow(self) -> None:
        self.follow = True
        self.lines_changed()

    def on_click(self, event: events.Click) -> None:
        line = int(self.scroll_y) + event.y
        if line < len(self.buffer):
            self.follow = False
            self._move_to(line)

    def _cursor_record(self) -> Mapping[str, Any] | None:
        if not len(self.buffer):
            return None
        return self.buffer.record_at(min(self.cursor, len(self.buffer) - 1))

    def action_details(self) -> None:
        """The record in full, or on a gap line its records read back."""
        if not len(self.buffer):
            return
        index = self.buffer.index_at(min(self.cursor, len(self.buffer) - 1))
        if index in self.buffer.gaps:
            self.post_message(self.FillGap(index))
            return
        self.app.push_screen(RecordScreen(self.buffer.ring[index]))

    def strips_moved(self) -> None:
        """Records moved (a gap filled): cached lines no longer match their indices."""
        self._strips.clear()
        self._rows_key = None

    def action_trace(self) -> None:
        record = self._cursor_record()
        if record is not None and record.get("traceId"):
            span = record.get("spanId")
            self.post_message(
                messages.OpenTrace(str(record["traceId"]), str(span) if span else None)
            )

    def action_copy(self) -> None:
        """The record as one JSON line, through the terminal's clipboard (OSC 52, over SSH
        too)."""
        record = self._cursor_record()
        if record is not None:
            self.app.copy_to_clipboard(json.dumps(record, ensure_ascii=False, default=repr))
            self.notify("copied the record", timeout=2)


class RecordScreen(ModalScreen[None]):
    """One record in full: every field, the traceback unfolded."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", id="record-close"),
        Binding("t", "trace", "Its trace", id="record-trace"),
    ]

    def __init__(self, record: Mapping[str, Any]) -> None:
        super().__init__()
        self.record = dict(record)

    def compose(self) -> ComposeResult:
        fields = {k: v for k, v in self.record.items() if k != "traceback"}
        text = json.dumps(fields, indent=2, ensure_ascii=False, default=repr)
        traceback = self.record.get("traceback")
        if traceback:
            text += "\n\n" + str(traceback)
        with VerticalScroll(id="record-body"):
            yield Static(clean(text), markup=False)

    def action_trace(self) -> None:
        trace_id, span = self.record.get("traceId"), self.record.get("spanId")
        self.dismiss()
        if trace_id:
            self.app.post_message(messages.OpenTrace(str(trace_id), str(span) if span else None))


class LogsPane(Vertical):
    """Status line, the log view, and a filter box that `/` opens."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "open_filter", "Filter", id="logs-filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="logs-clear"),
    ]
    FILTER_DELAY_S = 0.15
    refill_limit = REFILL_LIMIT
    """The most records read back on their own after a loss; past it, the gap line stays."""

    def __init__(
        self, source: EngineSource, *, capacity: int = CAPACITY, tz: tzinfo | None = None
    ) -> None:
        super().__init__()
        self.source = source
        self.buffer = LogBuffer(capacity)
        self.tz = tz
        self._filter_timer: Timer | None = None
        self._filter_text = ""
        self._refills: deque[Gap] = deque()
        """Gaps to read back on their own, oldest first (at most `REFILLS_QUEUED`)."""
        self._refilling = False
        self._reader = asyncio.Lock()
        """One read from the store at a time: each page is cut by the lines around it."""
        self._reading: Gap | None = None
        """The gap being read back from the store."""

    def compose(self) -> ComposeResult:
        yield Label("", id="logs-status", classes="pane-status")
        yield LogView(self.buffer, tz=self.tz, id="logs-view")
        yield Input(
            placeholder="text or regex, !text inverts; level:warn step:Name flow:f trace:id",
            id="logs-filter",
            classes="pane-filter",
        )

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        self._show_status()

    # -- the workbench contract ------------------------------------------------------------

    def apply_events(self, events_: list[WireEvent]) -> None:
        records = [e["data"] for e in events_ if e["type"] == ev.LOG]
        if not records:
            return
        removed = self.buffer.append(records)
        self.view.lines_changed(removed_on_top=removed)

    async def reload(self) -> None:
        records = await self.source.logs(limit=RELOAD_LIMIT)
        removed = self.buffer.merge(records)
        self.view.lines_changed(removed_on_top=removed)

    def restart(self) -> None:
        """The source went back in time: what is held may lie ahead of it, so the pane
        empties at once and reloads; losses still being read back no longer apply."""
        self.workers.cancel_group(self, "logs-refill")
        self._refills.clear()
        self._refilling = False
        self.buffer.clear()
        self.view.reset()
        self._restart()

    @work(exclusive=True, group="logs-restart")
    async def _restart(self) -> None:
        await self.reload()
        self._show_status()

    # -- gaps ------------------------------------------------------------------------------

    @property
    def refilling(self) -> bool:
        """Losses still being read back or counted."""
        return self._refilling or bool(self._refills)

    def refill(self, events_: list[WireEvent]) -> None:
        """The feed lost events before these: a gap line stands for the records lost at
        once, these are shown after it, and the gap is read back from the store (its
        newest `refill_limit` records, a page at a time) while the feed goes on."""
        gap, removed = self.buffer.open_gap()
        if gap not in self._refills:
            self._refills.append(gap)
            if len(self._refills) > REFILLS_QUEUED:
                self._refills.popleft()  # left to its line, counted
        self.view.lines_changed(removed_on_top=removed)
        self.apply_events(events_)
        if not self._refilling:
            self._refilling = True
            self._refill()

    @work(group="logs-refill")
    async def _refill(self) -> None:
        """Read the queued gaps back, then count what each line still stands for."""
        try:
            await self._refill_queued()
        finally:
            self._refilling = False
        self._show_status()
        if not self.buffer.filter.is_empty and self.buffer.gaps:
            self._scan()  # a filter searches what the gaps stand for too

    async def _refill_queued(self) -> None:
        buffer = self.buffer
        while True:
            if self._refills:
                gap = self._refills[0]
                await self._followed(gap)
                if gap not in self._refills:
                    continue  # left to its line meanwhile: counted below
                self._refills.remove(gap)
                if not await self._read_gap(gap, self.refill_limit) and not (
                    await self._count(gap)
                ):
                    return  # the store does not answer: the lines say so
                continue
            uncounted = [g for g in buffer.gaps.values()
                         if g.count is None and g not in self._refills]
            if not uncounted:
                return
            for gap in uncounted:
                await self._followed(gap)
                if not await self._count(gap):
                    return

    async def _followed(self, gap: Gap) -> None:
        """Wait for a record to follow the loss, which closes its gap; when none comes
        (the loss was the last of a burst), close it at the store's newest record."""
        waited = 0.0
        while gap.until is None and waited < CLOSE_WAIT_S:
            await asyncio.sleep(0.05)
            waited += 0.05
        if gap.until is None:
            try:
                newest = await self.source.logs(limit=1)
            except SourceError as exc:
                self.notify(f"could not read the lost log records back: {exc}",
                            severity="error")
                newest = []
            if gap.until is None:
                self.buffer.close(gap, float(newest[-1].get("time") or 0) if newest
                                  else gap.since)

    @on(LogView.FillGap)
    def _fill_asked(self, message: LogView.FillGap) -> None:
        self._scan([message.index])

    async def _count(self, gap: Gap) -> bool:
        """How many records the line stands for: the store's count for its time span less
        the held records of its first and last milliseconds. False when the store did not
        answer."""
        buffer, source = self.buffer, self.source
        async with self._reader:
            if buffer.index_of(gap) is None or gap.until is None:
                return True  # gone, or widened by a later loss (read again with it)
            since, until = gap.since, gap.until
            try:
                stored = await source.count_logs(since, until)
                at_since = await source.logs(since=since, until=since, limit=REFILL_LIMIT)
                at_until = (at_since if until == since
                            else await source.logs(since=until, until=until, limit=REFILL_LIMIT))
            except SourceError as exc:
                self.notify(f"could not count the records not shown: {exc}", severity="error")
                return False
            index = buffer.index_of(gap)
            if index is None or (gap.since, gap.until) != (since, until):
                return True
            gap.count, gap.filled = buffer.hole_count(index, stored, at_since, at_until), 0
            if not gap.count:
                self._fill(index, [], done=True)
        self.view.refresh()
        self._show_status()
        return True

    async def _read_gap(self, gap: Gap, limit: int | None = None) -> bool:
        """Fill a gap from the store, newest page first, each page put just after the line
        (which says how many are left) with the loop's turn in between; at most `limit`
        records. Whether the gap is gone (read back whole, or evicted)."""
        buffer = self.buffer
        read = 0
        grow = 0
        while True:
            want = GAP_PAGE if limit is None else min(GAP_PAGE, limit - read)
            if want <= 0:
                return False
            async with self._reader:
                index = buffer.index_of(gap)
                if index is None:
                    return True
                if gap.until is None:
                    return False
                asked = (want + len(buffer.edge(index))) << grow
                self._reading = gap
                self._show_status()
                try:
                    answer = await self.source.logs(since=gap.since, until=gap.until,
                                                    limit=asked)
                except SourceError as exc:
                    self.notify(f"could not read the records not shown: {exc}",
                                severity="error")
                    return False
                finally:
                    self._reading = None
                index = buffer.index_of(gap)
                if index is None:
                    return True  # evicted meanwhile
                fresh, whole = buffer.hole(index, answer, full=len(answer) >= asked)
                if not fresh and not whole:
                    # held or yet to come: more records of its edge than asked for
                    grow += 1
                    if asked << 1 > REFILL_LIMIT:
                        return False
                    continue
                if len(fresh) > want:
                    fresh, whole = fresh[-want:], False
                grow = 0
                read += len(fresh)
                self._fill(index, fresh, done=whole)
                self._show_status()
                if whole:
                    return True
            await asyncio.sleep(0)

    def _fill(self, index: int, records: list[Mapping[str, Any]], done: bool) -> None:
        buffer, view = self.buffer, self.view
        above = buffer.view is None and index < buffer.ring.start + int(view.scroll_y)
        shift = len(records) - (1 if done else 0)
        removed = buffer.fill(index, records, done)
        view.strips_moved()
        if buffer.view is not None:
            view.reset()
        else:
            view.lines_changed(removed_on_top=removed, added_on_top=shift if above else 0)

    # -- filtering -------------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """Show only matching records (the app's `!` key and `OpenLogs` land here)."""
        box = self.query_one("#logs-filter", Input)
        with box.prevent(Input.Changed):
            box.value = text
        self._apply_filter(text)

    def _apply_filter(self, text: str) -> None:
        self._filter_text = text
        self.buffer.set_filter(parse_filter(text))
        self.view.reset()
        if self.buffer.scanning or (self.buffer.gaps and not self.buffer.filter.is_empty):
            self._scan()

    @work(exclusive=True, group="logs-filter")
    async def _scan(self, gaps: list[int] | None = None) -> None:
        """Apply the filter from the newest record back; a filter first reads every gap
        back from the store (so it finds what the gaps stand for, and counts exactly), and
        `gaps` are read back whatever the filter."""
        buffer = self.buffer
        view = self.view
        if gaps is None:
            gaps = [] if buffer.filter.is_empty else list(buffer.gaps)
        for gap in [buffer.gaps[index] for index in sorted(gaps) if index in buffer.gaps]:
            if gap.until is not None:
                await self._read_gap(gap)
        while buffer.scanning:
            added = 0
            ends = time.perf_counter() + SCAN_SLICE_S
            while buffer.scanning and time.perf_counter() < ends:
                added += buffer.scan()
            if added:
                view.lines_changed(added_on_top=added)
            else:
                self._show_status()
            await asyncio.sleep(0)
        self._show_status()

    def action_open_filter(self) -> None:
        box = self.query_one("#logs-filter", Input)
        box.add_class("-open")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#logs-filter", Input)
        box.remove_class("-open")
        if box.value:
            box.value = ""
        self.view.focus()

    @on(Input.Changed, "#logs-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(
            self.FILTER_DELAY_S, partial(self._apply_filter, event.value)
        )

    @on(Input.Submitted, "#logs-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        if event.value != self._filter_text:
            self._apply_filter(event.value)
        event.input.remove_class("-open")
        self.view.focus()

    # -- status line -----------------------------------------------------------------------

    @on(LogView.Changed)
    def _view_changed(self) -> None:
        self._show_status()

    def _show_status(self) -> None:
        buffer = self.buffer
        parts = [f"{buffer.records:,} records"]
        if self._refills:
            parts.append("reading back records the feed lost")
        if self._reading is not None:
            gap = self._reading
            of = f" of {gap.count:,}" if gap.count is not None else ""
            parts.append(f"reading a gap back from the store: {gap.filled:,}{of}")
        elif buffer.not_shown:
            gaps = len(buffer.gaps)
            parts.append(f"{buffer.not_shown:,} not shown in {gaps} gap{'s' * (gaps > 1)} "
                         "(Enter on its line reads them)")
        if not buffer.filter.is_empty:
            parts.append(f"{len(buffer):,} match {self._filter_text!r}")
            if buffer.scanning:
                parts.append(f"filtering {buffer.scan_progress:.0%}")
        parts.append("following" if self.view.follow else "paused: End follows")
        if self.view.wrap:
            parts.append("wrapping (w)")
        elif self.view.x_offset:
            parts.append(f"{self.view.x_offset} cells right (<)")
        self.query_one("#logs-status", Label).update("  ·  ".join(parts), layout=False)
