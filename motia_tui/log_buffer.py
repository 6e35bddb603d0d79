"""What the Logs pane holds: a fixed-capacity ring of records addressed by absolute index,
the indices a filter keeps, and the gaps where records were lost past what a refill reads.

Kept apart from the widgets so that the bench and the equivalence tests drive the same
buffer the pane draws from, without a terminal.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from motia_tui.log_store import BLOCK, RecordStore
from motia_tui.widgets.log_filter import LogFilter, format_record, parse_filter

CAPACITY = 1_000_000
"""Records the pane keeps, as many as the engine's log store keeps on disk."""
RELOAD_LIMIT = 10_000
REFILL_LIMIT = 100_000
"""Records read back from the store after the feed lost some, without being asked (the most
the engine's API answers at once); past it the gap line stays, with its count."""
SCAN_CHUNK = 4_096
"""Records a filter scan checks at a time: one block of the store (well under a millisecond
by index, a few milliseconds where text must be checked record by record)."""
SCAN_SLICE_S = 0.008
"""How long a filter scan runs before it lets the loop (and the server) have a turn."""
DEDUPE_WINDOW = 2_000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")


def record_key(record: Mapping[str, Any]) -> bytes | str:
    """Identity of a record across a reload: the API gives records no id of their own, and
    records of one millisecond often differ only in their fields."""
    try:
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return repr(sorted(record.items(), key=lambda item: str(item[0])))


def clean(text: str) -> str:
    """Never let a record's bytes reach the terminal as control sequences."""
    return _CONTROL.sub("\ufffd", text.replace("\t", " "))


class MatchView:
    """Absolute indices of matching records, oldest first.

    Two stacks: `_older` holds what the backward scan finds (newest first, so the oldest is
    at the end and eviction pops it), `_newer` what arrives live after the scan began.
    """

    def __init__(self) -> None:
        self._older = array("q")
        self._newer = array("q")
        self._newer_start = 0

    def __len__(self) -> int:
        return len(self._older) + len(self._newer) - self._newer_start

    def __getitem__(self, line: int) -> int:
        older = len(self._older)
        if line < older:
            return self._older[older - 1 - line]
        return self._newer[self._newer_start + line - older]

    def add_newer(self, index: int) -> None:
        self._newer.append(index)

    def add_older(self, indices: Sequence[int]) -> None:
        """Indices the backward scan found, newest first."""
        self._older.extend(indices)

    def trim_below(self, start: int) -> int:
        """Forget indices of evicted records; the number of lines removed."""
        removed = 0
        older = self._older
        while older and older[-1] < start:
            older.pop()
            removed += 1
        if not older:
            newer = self._newer
            while self._newer_start < len(newer) and newer[self._newer_start] < start:
                self._newer_start += 1
                removed += 1
            if self._newer_start > 4096 and self._newer_start * 2 > len(newer):
                del newer[: self._newer_start]
                self._newer_start = 0
        return removed


GAP_STEP = "(not shown)"
GAP_PAGE = 4_096
"""Records a gap is filled with at a time: one answer of the store, then the loop's turn.
Putting a page in place holds the loop (about 6 us a record, and the block the line sits in
sealed again), and its decoded records stay alive until then: in a full buffer 4,096 take
24 ms and 10 MB at once, 10,000 took 53 ms and 16 MB."""
EDGE_LIMIT = 10_000
"""How far from a gap held records sharing its edge's millisecond are looked for."""


@dataclass(eq=False)
class Gap:
    """Records the pane does not hold between two that it does: the store answers for them
    by time (`count` once it has said how many). Each is itself: two gaps of the same span
    are two lines."""

    since: float
    """Time of the held record just before."""
    until: float | None
    """Time of the held record just after; None until a record follows the loss."""
    count: int | None = None
    filled: int = 0
    """Records read back since it was counted."""

    def text(self) -> str:
        until = "the next record" if self.until is None else _clock(self.until)
        span = f"{_clock(self.since)} to {until}"
        if self.count is None:
            return f"records not shown, {span} (reading them back from the store)"
        left = max(0, self.count - self.filled)
        if not left:
            return f"records not shown, {span}: the store no longer holds them"
        reading = f", {self.filled:,} read back" if self.filled else ""
        return f"{left:,} records not shown, {span}{reading}: Enter reads them from the store"


def gap_record(gap: Gap) -> dict[str, Any]:
    """The record that holds a gap line's place among the records (drawn as `Gap.text`)."""
    return {"level": "warn", "time": gap.since, "msg": gap.text(), "step": GAP_STEP,
            "until": gap.until}


def _clock(time_ms: Any) -> str:
    return format_record({"time": time_ms})[0][0]


def _first(keys: Sequence[bytes | str], key: bytes | str, end: int) -> int | None:
    return next((at for at in range(end) if keys[at] == key), None)


def _last(keys: Sequence[bytes | str], key: bytes | str, end: int) -> int | None:
    return next((at for at in range(end - 1, -1, -1) if keys[at] == key), None)


class LogBuffer:
    """Records plus the lines the current filter shows; no terminal involved."""

    def __init__(self, capacity: int = CAPACITY, block: int = BLOCK) -> None:
        self.ring = RecordStore(capacity, block)
        self.filter: LogFilter = parse_filter("")
        self.view: MatchView | None = None
        self._scan_next = -1
        self._recent_keys: set[bytes | str] = set()
        self.gaps: dict[int, Gap] = {}
        """Gap lines by absolute index (one a loss not yet read back, or past a refill)."""
        self._open: Gap | None = None
        """The newest gap while no record has followed it (the next one closes it)."""

    @property
    def scanning(self) -> bool:
        return self.view is not None and self._scan_next >= self.ring.start

    @property
    def scan_progress(self) -> float:
        total = self.ring.end - self.ring.start
        if not self.scanning or total == 0:
            return 1.0
        return 1 - (self._scan_next - self.ring.start) / total

    def __len__(self) -> int:
        return len(self.ring) if self.view is None else len(self.view)

    def index_at(self, line: int) -> int:
        return self.ring.start + line if self.view is None else self.view[line]

    def record_at(self, line: int) -> Mapping[str, Any]:
        return self.ring[self.index_at(line)]

    def append(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Add live records; the number of lines that fell off the top."""
        ring, view = self.ring, self.view
        if self._open is not None and records:
            self._open.until = float(records[0].get("time") or 0)
            self._open = None
        skip = self._recent_keys
        if skip:  # after a reload: what it brought may come again, up to the first new one
            fresh: Sequence[Mapping[str, Any]] = ()
            for at, record in enumerate(records):
                key = record_key(record)
                if key not in skip:
                    skip.clear()
                    fresh = records[at:]
                    break
                skip.discard(key)
            records = fresh
        first = ring.end
        evicted = ring.extend(records)
        if evicted and self.gaps:
            self.gaps = {at: gap for at, gap in self.gaps.items() if at >= ring.start}
        if view is None:
            return evicted
        matches = self.filter.matches
        for offset, record in enumerate(records):
            if matches(record):
                view.add_newer(first + offset)
        return view.trim_below(ring.start) if evicted else 0

    def clear(self) -> None:
        """Forget every record and gap line, keeping the filter (its matches start again)."""
        self.ring.clear()
        self.gaps = {}
        self._open = None
        self._recent_keys = set()
        self.set_filter(self.filter)

    def merge(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Take a reload's snapshot (oldest first): only what is newer than what is held."""
        fresh = records
        if len(self.ring):
            last = record_key(self.ring[self.ring.end - 1])
            keys = [record_key(r) for r in records]
            if last in keys:
                fresh = records[len(keys) - keys[::-1].index(last) :]
            else:
                newest = self.ring[self.ring.end - 1].get("time") or 0
                fresh = [r for r in records if (r.get("time") or 0) > newest]
        self._recent_keys.clear()
        evicted = self.append(fresh)
        self._recent_keys = {record_key(r) for r in records[-DEDUPE_WINDOW:]}
        return evicted

    def open_gap(self) -> tuple[Gap, int]:
        """The feed lost records after the newest one held: a gap line after it at once,
        closed at the time of the next record appended (which the loss ends before). A loss
        with no record since the last one widens that one's line. The gap, and the number
        of lines that fell off the top."""
        ring = self.ring
        newest = ring.end - 1
        if len(ring) and newest in self.gaps:
            gap = self.gaps[newest]
            gap.until, gap.count, gap.filled = None, None, 0
            self._open = gap
            return gap, 0
        gap = Gap(float(ring[newest].get("time") or 0) if len(ring) else 0.0, None)
        self._open = None
        evicted = self.append([gap_record(gap)])
        self.gaps[ring.end - 1] = gap
        self._open = gap
        return gap, evicted

    def index_of(self, gap: Gap) -> int | None:
        """Where a gap's line is now (fills before it move it), None once it is gone."""
        return next((at for at, held in self.gaps.items() if held is gap), None)

    def _neighbours(self, index: int) -> tuple[Mapping[str, Any] | None,
                                               Mapping[str, Any] | None]:
        """The held records just before and just after the gap line at `index`."""
        ring, gaps = self.ring, self.gaps
        before = index - 1
        after = index + 1
        return (ring[before] if before >= ring.start and before not in gaps else None,
                ring[after] if after < ring.end and after not in gaps else None)

    def hole(self, index: int, answer: Sequence[Mapping[str, Any]],
             full: bool) -> tuple[list[Mapping[str, Any]], bool]:
        """The records of a store answer for the gap at `index` (its time span, oldest
        first, the newest of them; `full`: as many as were asked) that the gap stands for:
        those after the held record just before the line and before the one just after it,
        found by identity, as the store keeps them in the order the feed brought them.
        Records of the edges' milliseconds held on either side, and those the feed has yet
        to bring, are then never taken twice. Also whether nothing older is missing (the
        answer reached back to the record before, or holds all there is)."""
        before, after = self._neighbours(index)
        keys = [record_key(record) for record in answer]
        end = len(answer)
        if after is not None:
            found = _first(keys, record_key(after), end)
            if found is None and full:
                return [], False  # the answer lies wholly after the gap: ask for more
            end = end if found is None else found
        start = None if before is None else _last(keys, record_key(before), end)
        return list(answer[0 if start is None else start + 1 : end]), start is not None or not full

    def hole_count(self, index: int, stored: int, at_since: Sequence[Mapping[str, Any]],
                   at_until: Sequence[Mapping[str, Any]]) -> int:
        """How many records the gap at `index` stands for: `stored` (the store's count for
        its time span) less those of its first millisecond up to the held record before
        it (`at_since`, that millisecond's records) and those of its last from the held
        record after it on (`at_until`)."""
        before, after = self._neighbours(index)
        start = end = None
        if before is not None:
            start = _last([record_key(r) for r in at_since], record_key(before), len(at_since))
        if after is not None:
            end = _first([record_key(r) for r in at_until], record_key(after), len(at_until))
        if at_since is at_until:  # one millisecond
            first = 0 if start is None else start + 1
            return max(0, (len(at_until) if end is None else end) - first)
        held_before = 0 if start is None else start + 1
        held_after = 0 if end is None else len(at_until) - end
        return max(0, stored - held_before - held_after)

    def close(self, gap: Gap, until: float) -> None:
        """End an open gap at `until` when no record followed the loss."""
        if gap.until is None:
            gap.until = until
        if self._open is gap:
            self._open = None

    def edge(self, index: int) -> list[Mapping[str, Any]]:
        """The held records on either side of the gap at `index` that share the millisecond
        of its edge: the store's answer for the gap's times holds them too."""
        gap, ring = self.gaps[index], self.ring
        found: list[Mapping[str, Any]] = []
        for step, time_ms in ((-1, gap.since), (1, gap.until)):
            if time_ms is None:
                continue
            at = index + step
            while (ring.start <= at < ring.end and abs(at - index) <= EDGE_LIMIT
                   and at not in self.gaps):
                record = ring[at]
                if record.get("time") != time_ms:
                    break
                found.append(record)
                at += step
        return found

    @property
    def records(self) -> int:
        """Records held, the gap lines (which hold a record's place) not counted."""
        return len(self.ring) - len(self.gaps)

    @property
    def not_shown(self) -> int:
        """Records the gap lines stand for that the store still holds (as far as known)."""
        return sum(max(0, (gap.count or 0) - gap.filled) for gap in self.gaps.values())

    def fill(self, index: int, records: Sequence[Mapping[str, Any]], done: bool) -> int:
        """Put records read back for the gap at `index` just after its line (they are the
        newest it stands for, oldest first); `done` removes the line. The number of lines
        that fell off the top."""
        gap = self.gaps.pop(index)
        if records:
            gap.until = float(records[0].get("time") or 0)
            gap.filled += len(records)
        kept = [] if done else [gap_record(gap)]
        shift = len(kept) + len(records) - 1
        evicted = self.ring.replace(index, [*kept, *records])
        self.gaps = {
            (at + shift if at > index else at): other for at, other in self.gaps.items()
            if at >= self.ring.start
        }
        if not done and index >= self.ring.start:
            self.gaps[index] = gap
        if self.view is not None:
            self.set_filter(self.filter)
        return evicted

    def set_filter(self, log_filter: LogFilter) -> None:
        self.filter = log_filter
        if log_filter.is_empty:
            self.view = None
            self._scan_next = -1
            return
        self.view = MatchView()
        self._scan_next = self.ring.end - 1

    def scan(self, budget: int = SCAN_CHUNK) -> int:
        """Check up to `budget` older records against the filter; the lines added on top."""
        view = self.view
        if view is None:
            return 0
        stop = max(self.ring.start, self._scan_next - budget + 1)
        found = self.ring.matching(self.filter, stop, self._scan_next + 1)
        view.add_older(found[::-1])
        self._scan_next = stop - 1
        return len(found)


