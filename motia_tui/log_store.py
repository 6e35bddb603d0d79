"""The Logs pane's records, held compactly: a million in tens of megabytes, filtered by index.

One dict a record costs about 700 bytes and keeps the collector busy walking objects that
never die. Here records are kept in blocks of `BLOCK`: the newest block is a plain list,
and a full one is sealed into a few flat objects the collector never looks inside:

- the records as JSON lines (orjson, key order kept), compressed together with zlib;
- one byte a record for its level rank, and one small id a record for its step, its flows
  and its trace, each id pointing into the block's own table of distinct values.

A filter on level, step, flow or trace is decided per block on those tables (which ids
pass), then per record by translating the id columns into masks, all in C. Free text and
regular expressions need the record itself; for a plain word the compressed lines are
searched first, and only lines that contain it are parsed and checked exactly. Whatever the
path, a record is shown exactly when `LogFilter.matches` says so: the columns and the line
search only skip records that cannot match.

Records are addressed by an absolute index that only grows; the oldest are evicted past
the capacity, and a block is dropped once all its records are.
"""

from __future__ import annotations

import re
import zlib
from array import array
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping
from itertools import accumulate, compress
from typing import Any

import orjson

from motia_tui.widgets.log_filter import (
    STANDARD_FIELDS,
    LogFilter,
    flows_key,
    level_rank,
    message_key,
    step_key,
    text_hit,
    trace_key,
)

BLOCK = 4096
"""Records a block holds: large enough to compress well, small enough to decompress for one
screen of lines in well under a millisecond."""
UNPACKED_BLOCKS = 4
"""Sealed blocks kept decompressed, for drawing and for showing a record."""
_PLAIN_STANDARD = (str, int, float, bool, type(None))
_NEEDLE_UNSAFE = re.compile(r'["\\,:\x00-\x1f\x7f]|^ ')
"""A word containing any of these could be in what the filter searches (the message and the
extra fields as `json.dumps` writes them) but not in the orjson line: escapes, separators
with spaces. Such words skip the line search."""
_EXPONENT = re.compile(rb"[:,\[]-?(?:\d+(?:\.\d+)?e|0\.0000)")
"""A float `str` writes in exponent form, which orjson writes otherwise (`1e-07` and
`1e-7`, `1.5e-05` and `0.000015`)."""
_NOT_FINITE = ("nan", "infinity", "-infinity")


class _Sealed:
    """A full block: compressed JSON lines plus id columns over small tables."""

    __slots__ = (
        "ascii",
        "base",
        "columns",
        "count",
        "exponents",
        "extras",
        "message_ids",
        "messages",
        "odd",
        "payload",
        "ranks",
        "traces",
    )

    def __init__(self, base: int, records: list[Mapping[str, Any]]) -> None:
        self.base = base
        self.count = len(records)
        ranks = bytearray(self.count)
        extras = bytearray(self.count)
        tables: dict[str, dict[Any, int]] = {name: {} for name in _ALL_KEYS}
        ids = {name: array("H", bytes(2 * self.count)) for name in _ALL_KEYS}
        lines: list[bytes] = []
        odd: dict[int, Mapping[str, Any]] = {}
        for offset, record in enumerate(records):
            line = _line(record)
            if line is None:
                odd[offset] = record
                lines.append(b"")
                continue
            lines.append(line)
            ranks[offset] = level_rank(record)
            extras[offset] = not STANDARD_FIELDS.issuperset(record)
            for name, key in _ALL_KEYS.items():
                table = tables[name]
                ids[name][offset] = table.setdefault(key(record), len(table))
        text = b"\n".join(lines)
        self.payload = zlib.compress(text, 1)
        self.ascii = text.isascii()
        self.exponents = _EXPONENT.search(text) is not None
        """Numbers that JSON and `str` may write differently: no line search here."""
        self.ranks = bytes(ranks)
        self.extras = bytes(extras)
        self.columns = {
            name: (_narrow(ids[name], len(tables[name])), tuple(tables[name])) for name in _KEYS
        }
        # Messages and trace ids can be as many as the records: their tables are compressed.
        self.message_ids = _narrow(ids["msg"], len(tables["msg"]))
        self.messages = zlib.compress(orjson.dumps(list(tables["msg"])), 1)
        self.traces = (_narrow(ids["trace"], len(tables["trace"])),
                       zlib.compress(orjson.dumps(list(tables["trace"])), 1))
        self.odd = odd
        """Records that do not survive a JSON line unchanged, as they are (rare)."""

    def text(self) -> bytes:
        return zlib.decompress(self.payload)

    def column_mask(self, log_filter: LogFilter) -> bytes | None:
        """One byte a record, 1 where level, step, flows and trace all pass (0 for the odd
        records, which are checked as they are); None when no record can pass."""
        mask: int | None = None
        if log_filter.min_rank:
            passing = bytes(rank >= log_filter.min_rank for rank in range(256))
            mask = _as_int(self.ranks.translate(passing))
        for name, passes in log_filter.column_terms():
            column, table = self._column(name)
            allowed = [passes(value) for value in table]
            if not any(allowed):
                return None
            if all(allowed):
                continue
            term = _as_int(_pick(column, allowed))
            mask = term if mask is None else mask & term
            if not mask:
                return None
        full = b"\x01" * self.count if mask is None else mask.to_bytes(self.count, "little")
        if not self.odd:
            return full
        cleared = bytearray(full)
        for offset in self.odd:
            cleared[offset] = 0
        return bytes(cleared)

    def _column(self, name: str) -> tuple[bytes | array[int], tuple[Any, ...]]:
        if name == "trace":
            ids, packed = self.traces
            return ids, tuple(orjson.loads(zlib.decompress(packed)))
        return self.columns[name]

    def message_hits(self, pattern: re.Pattern[str]) -> bytes:
        """One byte a record, 1 where the pattern is found in the message."""
        table = orjson.loads(zlib.decompress(self.messages))
        return _pick(self.message_ids, [pattern.search(msg) is not None for msg in table])


_KEYS = {"step": step_key, "flows": flows_key}
"""The columns a block keeps with their tables as they are, each with the key `LogFilter`
tests."""
_ALL_KEYS = {**_KEYS, "trace": trace_key, "msg": message_key}


def _line(record: Mapping[str, Any]) -> bytes | None:
    """The record as one JSON line that reads back equal, or None (kept as it is)."""
    for key in ("msg", "level", "step", "traceId"):
        value = record.get(key)
        if value is not None and type(value) not in _PLAIN_STANDARD:
            return None  # str() of a tuple or a set does not survive JSON
    try:
        line = orjson.dumps(record)
    except (TypeError, orjson.JSONEncodeError):
        return None
    if b"null" in line and orjson.loads(line) != record:
        return None  # NaN and infinities: orjson writes null
    return line


def _narrow(ids: array[int], distinct: int) -> bytes | array[int]:
    """Ids in one byte each when the table allows, so masks are one `translate`."""
    return bytes(ids.tolist()) if distinct <= 256 else ids


def _pick(ids: bytes | array[int], allowed: list[bool]) -> bytes:
    if isinstance(ids, bytes):
        table = bytes(allowed) + bytes(256 - len(allowed))
        return ids.translate(table)
    return bytes(allowed[i] for i in ids)


def _as_int(mask: bytes) -> int:
    return int.from_bytes(mask, "little")


class RecordStore:
    """The newest `capacity` records, addressed by an absolute index that only grows."""

    def __init__(self, capacity: int, block: int = BLOCK) -> None:
        self.capacity = capacity
        self.block = block
        self.start = 0
        self.end = 0
        self._sealed: deque[_Sealed] = deque()
        self._open: list[Mapping[str, Any]] = []
        self._open_base = 0
        self._unpacked: OrderedDict[int, list[bytes]] = OrderedDict()

    def __len__(self) -> int:
        return self.end - self.start

    def append(self, record: Mapping[str, Any]) -> bool:
        """Add a record; True when the oldest one was evicted to make room."""
        self._open.append(record)
        self.end += 1
        if self.end % self.block == 0:
            self._seal()
        if self.end - self.start <= self.capacity:
            return False
        self.start += 1
        self._drop_evicted()
        return True

    def _seal(self) -> None:
        self._sealed.append(_Sealed(self._open_base, self._open))
        self._open = []
        self._open_base = self.end

    def _drop_evicted(self) -> None:
        sealed = self._sealed
        while sealed and sealed[0].base + sealed[0].count <= self.start:
            self._unpacked.pop(sealed.popleft().base, None)
        if not sealed and self._open_base < self.start:
            # Capacity smaller than a block: the open list holds evicted records too.
            del self._open[: self.start - self._open_base]
            self._open_base = self.start

    def __getitem__(self, index: int) -> Mapping[str, Any]:
        if not self.start <= index < self.end:
            raise IndexError(index)
        if index >= self._open_base:
            return self._open[index - self._open_base]
        block = self._block_of(index)
        offset = index - block.base
        odd = block.odd.get(offset)
        if odd is not None:
            return odd
        loaded: dict[str, Any] = orjson.loads(self._lines(block)[offset])
        return loaded

    def _block_of(self, index: int) -> _Sealed:
        first = self._sealed[0].base // self.block
        return self._sealed[index // self.block - first]

    def _lines(self, block: _Sealed) -> list[bytes]:
        lines = self._unpacked.get(block.base)
        if lines is None:
            lines = self._unpacked[block.base] = block.text().split(b"\n")
            if len(self._unpacked) > UNPACKED_BLOCKS:
                self._unpacked.popitem(last=False)
        else:
            self._unpacked.move_to_end(block.base)
        return lines

    def _text(self, block: _Sealed) -> bytes:
        lines = self._unpacked.get(block.base)
        return b"\n".join(lines) if lines is not None else block.text()

    def clear(self) -> None:
        self._sealed.clear()
        self._unpacked.clear()
        self._open = []
        self.start = self._open_base = self.end

    def matching(self, log_filter: LogFilter, low: int, high: int) -> list[int]:
        """Absolute indices in [low, high) of the records `log_filter` matches, ascending."""
        low, high = max(low, self.start), min(high, self.end)
        found: list[int] = []
        for first, last, block in self._spans(low, high):
            if block is None:
                found.extend(
                    index for index in range(first, last) if log_filter.matches(self[index])
                )
            else:
                found.extend(self._matching_in(block, log_filter, first, last))
        return found

    def _spans(self, low: int, high: int) -> Iterator[tuple[int, int, _Sealed | None]]:
        """[first, last) pieces of [low, high) each within one sealed block or the open one."""
        index = low
        while index < high:
            if index >= self._open_base:
                yield index, high, None
                return
            block = self._block_of(index)
            last = min(high, block.base + block.count)
            yield index, last, block
            index = last

    def _matching_in(
        self, block: _Sealed, log_filter: LogFilter, first: int, last: int
    ) -> list[int]:
        begin, stop = first - block.base, last - block.base
        odd = [o for o in block.odd if begin <= o < stop and log_filter.matches(block.odd[o])]
        mask = block.column_mask(log_filter)
        offsets = [] if mask is None else list(compress(range(begin, stop), mask[begin:stop]))
        pattern = log_filter.pattern
        if pattern is not None and offsets:
            offsets = self._text_matching(block, log_filter, pattern, offsets)
        if odd:
            offsets = sorted(offsets + odd)
        return [block.base + offset for offset in offsets]

    def _text_matching(
        self, block: _Sealed, log_filter: LogFilter, pattern: re.Pattern[str],
        offsets: list[int],
    ) -> list[int]:
        """Of `offsets`, those whose text hit is not `invert`: the message from the block's
        table of messages; the extra fields only for records that have some and whose line
        may hold the filter's word, parsed and checked exactly."""
        in_message = block.message_hits(pattern)
        extras = block.extras
        lines: list[bytes] | None = None
        may_hold: set[int] | None = None
        word = None if block.exponents else _line_word(log_filter)
        invert = log_filter.invert
        kept = []
        for offset in offsets:
            if in_message[offset]:
                hit = True
            elif not extras[offset]:
                hit = False
            else:
                if lines is None:
                    text = self._text(block)
                    lines = text.split(b"\n")
                    if word is not None:
                        may_hold = _lines_holding(word, text, lines, block.ascii)
                if may_hold is not None and offset not in may_hold:
                    hit = False  # the line lacks the word, so the fields do too
                else:
                    hit = text_hit(pattern, orjson.loads(lines[offset]))
            if hit != invert:
                kept.append(offset)
        return kept


def _lines_holding(word: bytes, text: bytes, lines: list[bytes], ascii_only: bool) -> set[int]:
    """Lines where the (lower-case) word is found whatever the case, and every line that is
    not ASCII (the case-blind `str` search finds `k` in the Kelvin sign, which a bytes
    search does not)."""
    lowered = text.lower()
    found: set[int] = set()
    at = lowered.find(word)
    starts = list(accumulate((len(line) + 1 for line in lines), initial=0)) if at >= 0 else []
    while at >= 0:
        line = bisect_right(starts, at) - 1
        found.add(line)
        at = lowered.find(word, starts[line + 1])
    if not ascii_only:
        found.update(offset for offset, line in enumerate(lines) if not line.isascii())
    return found


def _line_word(log_filter: LogFilter) -> bytes | None:
    """Lower-case bytes every line must contain for the filter's text to hit it, when the
    text is a plain ASCII word; None when lines cannot be ruled out that way."""
    text = log_filter.text
    if not (log_filter.literal or re.escape(text) == text or _is_plain(text)):
        return None
    if not text.isascii() or _NEEDLE_UNSAFE.search(text):
        return None
    lowered = text.lower()
    if any(lowered in word or word in lowered for word in _NOT_FINITE):
        return None
    return lowered.encode()


def _is_plain(text: str) -> bool:
    """No regex syntax at all: the text matches only itself."""
    return re.fullmatch(r"[\w \-]*", text) is not None
