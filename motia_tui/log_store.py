"""The Logs pane's records, held compactly: a million in tens of megabytes, filtered by index.

One dict a record costs about 700 bytes and keeps the collector busy walking objects that
never die. Here records are kept in blocks of `BLOCK`: the newest block is a plain list,
and a full one is sealed into a few flat objects the collector never looks inside:

- the records as JSON lines (orjson, key order kept), compressed together with zlib on a
  thread of its own, as zlib lets go of the interpreter lock (`_Packed`);
- one byte a record for its level rank, and one small id a record for its step, its flows
  and its trace, each id pointing into the block's own table of distinct values.

A filter on level, step, flow or trace is decided per block on those tables (which ids
pass), then per record by translating the id columns into masks, all in C. Free text and
regular expressions search what `text_hit` searches, kept per block as it will be searched:
the block's table of distinct messages, and each record's extra fields already written as
JSON (compressed together). One compiled pattern is run over those strings in C, never a
record parsed; the hits are combined with the column masks as bytes. Whatever the path, a
record is shown exactly when `LogFilter.matches` says so.

A block of plain records is taken apart a column at a time (`_pack_by_column`), with a
Python call only for each distinct level, step, flows or message; any other block, one
record at a time (`_pack_each`). Both make the same block.

Records are addressed by an absolute index; the oldest are evicted past the capacity, and
a block is dropped once all its records are. Only `replace` (a gap line filled with the
records it stood for) moves the records after it; blocks may then hold fewer or more than
`BLOCK` records, so a block is found by bisecting their first indices.
"""

from __future__ import annotations

import re
import zlib
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from itertools import accumulate, compress, count, repeat
from typing import Any, cast

import orjson

from engine.logs import listed
from motia_tui.widgets.log_filter import (
    LogFilter,
    casefolded,
    fields_text,
    fields_texts,
    flows_of,
    message_text,
    rank_of_level,
)

BLOCK = 4096
"""Records a block holds: large enough to compress well, small enough to decompress for one
screen of lines in well under a millisecond."""
UNPACKED_BLOCKS = 4
"""Sealed blocks kept decompressed, for drawing and for showing a record."""
_PLAIN_STANDARD = frozenset({str, int, float, bool, type(None)})


_TEXT, _MESSAGES, _TRACES, _FIELDS = range(4)


class _Packed:
    """A sealed block's byte strings: plain when sealed, compressed soon after on the packing
    thread. zlib lets go of the interpreter lock while it compresses, so the loop (and the
    server on it) runs meanwhile: compressing is a third of sealing a block."""

    __slots__ = ("state",)

    def __init__(self, parts: tuple[bytes, ...]) -> None:
        self.state: tuple[tuple[bytes, ...], bool] = (parts, False)
        """The parts and whether they are compressed, swapped together in one assignment
        so a reader never sees one with the other's flag."""
        _packer().submit(self._compress)

    def _compress(self) -> None:
        parts, _ = self.state
        self.state = (tuple(zlib.compress(part, 1) for part in parts), True)

    def part(self, which: int) -> bytes:
        parts, compressed = self.state
        return zlib.decompress(parts[which]) if compressed else parts[which]


@cache
def _packer() -> ThreadPoolExecutor:
    """One thread for every store's blocks, started with the first sealed block."""
    return ThreadPoolExecutor(1, thread_name_prefix="motia-logs-packer")


class _Sealed:
    """A full block: compressed JSON lines plus id columns over small tables."""

    __slots__ = (
        "base",
        "columns",
        "count",
        "extras",
        "message_ids",
        "odd",
        "packed",
        "ranks",
        "trace_ids",
    )

    def __init__(self, base: int, records: list[Mapping[str, Any]]) -> None:
        self.base = base
        self.count = len(records)
        packing = _pack_by_column(records) or _pack_each(records)
        ids, tables = packing.ids, packing.tables
        self.ranks = packing.ranks
        self.extras = bytes(map(bool, packing.fields))
        self.columns = {name: (_narrow(ids[name], len(tables[name])), tuple(tables[name]))
                        for name in _KEYS}
        self.message_ids = _narrow(ids["msg"], len(tables["msg"]))
        self.trace_ids = _narrow(ids["trace"], len(tables["trace"]))
        # Messages and trace ids can be as many as the records: their tables are packed too.
        self.packed = _Packed((
            packing.text,
            orjson.dumps(tables["msg"]),
            orjson.dumps(tables["trace"]),
            "\n".join([text or "" for text in packing.fields]).encode(),
        ))
        """The JSON lines; the message and trace tables; each record's extra fields as free
        text searches them, one line each (JSON escapes every line break), empty for a record
        that has none (`extras` says which)."""
        self.odd = packing.odd
        """Records that do not survive a JSON line unchanged, as they are (rare)."""

    def text(self) -> bytes:
        return self.packed.part(_TEXT)

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
            return self.trace_ids, tuple(orjson.loads(self.packed.part(_TRACES)))
        return self.columns[name]

    def text_hits(self, pattern: re.Pattern[str]) -> int:
        """A byte a record (as one little-endian int, like the column masks), 1 where the
        pattern is found in the message or in the extra fields (`_hits` searches the block's
        distinct messages, then the fields of records whose message did not answer)."""
        table = orjson.loads(self.packed.part(_MESSAGES))
        in_message = _pick(self.message_ids, _hits(pattern, table))
        hits = _as_int(in_message)
        need = _as_int(self.extras) & ~hits
        if not need:
            return hits  # every record with fields is answered by its message
        fields = self.packed.part(_FIELDS).decode().split("\n")
        return hits | (_as_int(_hits(pattern, fields)) & need)


_KEYS = ("step", "flows")
"""The columns a block keeps with their tables as they are."""
_ALL_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "step": ("step", casefolded), "flows": ("flows", flows_of),
    "trace": ("traceId", casefolded), "msg": ("msg", message_text)}
"""Each column's field and the key `LogFilter` tests (`step_key` and the others), a function
of that field's value alone."""
_FIELDS_READ = ("level", *(field for field, _ in _ALL_KEYS.values()))
_PASS = 256
"""Records taken apart at a time, each read for all its fields in one go: a pass over a
whole block's records, scattered over the heap, would find few of them in the processor's
caches the next time round."""
_PLAIN_COLUMNS = frozenset({"msg", "step", "trace"})
"""Columns whose values must be plain to survive a JSON line (the level's too), and whose
key of a string is the string (the message) or its casefold."""


def _line(record: Mapping[str, Any]) -> bytes | None:
    """The record as one JSON line that reads back equal (its flows a list), or None (kept
    as it is)."""
    for key in ("msg", "level", "step", "traceId"):
        value = record.get(key)
        if value is not None and type(value) not in _PLAIN_STANDARD:
            return None  # str() of a tuple or a set does not survive JSON
    try:
        line = orjson.dumps(record)
    except (TypeError, orjson.JSONEncodeError):
        return None
    if b"null" in line and orjson.loads(line) != listed(dict(record)):
        return None  # NaN and infinities: orjson writes null
    return line


@dataclass
class _Packing:
    """A block's records taken apart, before compression."""

    text: bytes
    """The JSON lines, joined by line breaks (an odd record's line empty)."""
    ranks: bytes
    fields: list[str | None]
    ids: dict[str, list[int]]
    """Per column, each record's id in its table."""
    tables: dict[str, list[Any]]
    """Per column, the distinct keys, the id of each its position."""
    odd: dict[int, Mapping[str, Any]]


def _pack_by_column(records: Sequence[Mapping[str, Any]]) -> _Packing | None:
    """The block taken apart a column at a time, in C but for one call a distinct value
    (a block's records mostly share their level, step, flows and message objects); None
    when a record needs `_pack_each` (not a plain dict, or odd)."""
    if not records or set(map(type, records)) != {dict}:
        return None
    plain = cast(Sequence[dict[str, Any]], records)
    lines: list[bytes] = []
    fields: list[str | None] = []
    columns: dict[str, list[Any]] = {field: [] for field in _FIELDS_READ}
    for start in range(0, len(plain), _PASS):
        part = plain[start : start + _PASS]
        try:
            lines += map(orjson.dumps, part)
        except (TypeError, orjson.JSONEncodeError):
            return None
        for field, column in columns.items():
            column += map(dict.get, part, repeat(field))
        fields += fields_texts(part)
    text = b"\n".join(lines)
    ids: dict[str, list[int]] = {}
    tables: dict[str, list[Any]] = {}
    for name, (field, of_value) in _ALL_KEYS.items():
        values = columns[field]
        distinct = dict(zip(map(id, values), values, strict=True))
        kinds = set(map(type, distinct.values()))
        if name in _PLAIN_COLUMNS and not kinds <= _PLAIN_STANDARD:
            return None
        keys: Iterable[Any]
        if kinds == {str} and name in _PLAIN_COLUMNS:
            keys = values if name == "msg" else map(str.casefold, cast(list[str], values))
        else:
            keyed = dict(zip(distinct, map(of_value, distinct.values()), strict=True))
            keys = map(keyed.__getitem__, map(id, values))
        keys = list(keys)
        table = dict(zip(dict.fromkeys(keys), count()))
        ids[name] = list(map(table.__getitem__, keys))
        tables[name] = list(table)
    levels = columns["level"]
    distinct = dict(zip(map(id, levels), levels, strict=True))
    if not set(map(type, distinct.values())) <= _PLAIN_STANDARD:
        return None
    rank_of = dict(zip(distinct, map(rank_of_level, distinct.values()), strict=True))
    ranks = bytes(map(rank_of.__getitem__, map(id, levels)))
    if b"null" in text and any(orjson.loads(lines[at]) != listed(dict(records[at]))
                               for at, line in enumerate(lines) if b"null" in line):
        return None  # NaN or an infinity, which orjson writes as null
    return _Packing(text, ranks, fields, ids, tables, {})


def _pack_each(records: Sequence[Mapping[str, Any]]) -> _Packing:
    """The block taken apart a record at a time: any mapping, odd records kept as they are."""
    size = len(records)
    ranks = bytearray(size)
    tables: dict[str, dict[Any, int]] = {name: {} for name in _ALL_KEYS}
    ids = {name: [0] * size for name in _ALL_KEYS}
    # Each key's memo: a field's value (by identity, held so its id stays its own) to its id
    # in the table, so a key is worked out once for each distinct object, not once a record.
    columns: list[tuple[str, Callable[[Any], Any], dict[Any, int], list[int],
                        dict[int, tuple[Any, int]]]]
    columns = [(field, of_value, tables[name], ids[name], {})
               for name, (field, of_value) in _ALL_KEYS.items()]
    seen_ranks: dict[int, tuple[Any, int]] = {}
    lines: list[bytes] = []
    fields: list[str | None] = []
    odd: dict[int, Mapping[str, Any]] = {}
    for offset, record in enumerate(records):
        line = _line(record)
        if line is None:
            odd[offset] = record
            lines.append(b"")
            fields.append(None)
            continue
        lines.append(line)
        level = record.get("level")
        known = seen_ranks.get(id(level))
        if known is None:
            known = seen_ranks[id(level)] = (level, rank_of_level(level))
        ranks[offset] = known[1]
        fields.append(fields_text(record))
        for field, of_value, table, column, memo in columns:
            value = record.get(field)
            entry = memo.get(id(value))
            if entry is None:
                entry = memo[id(value)] = (value, table.setdefault(of_value(value), len(table)))
            column[offset] = entry[1]
    return _Packing(b"\n".join(lines), bytes(ranks), fields, ids,
                    {name: list(table) for name, table in tables.items()}, odd)


def _hits(pattern: re.Pattern[str], strings: list[str]) -> bytes:
    """A byte a string, 1 where `pattern.search` finds something in it.

    A pattern without lookarounds matches the same whatever surrounds it, so the strings
    are searched joined by line breaks, in C, one step a string that holds a match: a match
    within one string is that string's; one that runs over the separator proves nothing, so
    that string is searched alone. `^`, `$` and word boundaries see a line break as a
    string's edge, so with `re.MULTILINE` they too are searched joined, when no string holds
    a line break of its own. An ASCII word in ASCII text is found by `find` on the lower
    case (what a case-blind match of it is there), and a pattern that starts with ASCII
    letters is matched only where `find` finds them (`_literal_prefix`). Other patterns,
    and strings most of which hold a match, are searched one by one."""
    search = alone = pattern.search
    if len(strings) < 64 or _LOOKING.search(pattern.pattern):
        return bytes(map(bool, map(alone, strings)))
    text = "\n".join(strings)
    if _EDGES.search(pattern.pattern):
        if text.count("\n") != len(strings) - 1 or alone(""):
            return bytes(map(bool, map(alone, strings)))
        search = re.compile(pattern.pattern, pattern.flags | re.MULTILINE).search
    elif alone(""):
        return b"\x01" * len(strings)  # an empty match is found in any string
    bounds: list[int] = []
    """String `i` is text[bounds[i] : bounds[i + 1] - 1]; worked out at the first match (a
    rare word matches nothing in most blocks)."""
    word = _WORD.fullmatch(pattern.pattern)
    prefix = None if word is not None else _literal_prefix(pattern)
    lowered = text.lower() if (word or prefix) and text.isascii() else None
    if prefix is not None and lowered is not None and lowered.count(prefix) > len(strings) // 8:
        prefix = lowered = None  # most strings hold it: each would be tried in Python
    needle = word.group().replace("\\", "").lower() if word is not None else (prefix or "")
    at_prefix = re.compile(pattern.pattern, pattern.flags | re.MULTILINE).match
    """Whether the pattern matches where its literal start was found (a line break ends a
    string, as `search` over the joined strings sees it)."""
    found = bytearray(len(strings))
    at = count = 0
    while True:
        if lowered is not None:
            start = lowered.find(needle, at)
            if start < 0:
                break
            bounds = bounds or _bounds(strings)
            i = bisect_right(bounds, start) - 1
            if prefix is not None:
                match = at_prefix(text, start)
                if match is None:
                    at = start + 1
                    continue
                if match.end() >= bounds[i + 1] and not alone(strings[i]):
                    at = bounds[i + 1]
                    continue
        else:
            match = search(text, at)
            if match is None:
                break
            bounds = bounds or _bounds(strings)
            i = bisect_right(bounds, match.start()) - 1
            if match.end() >= bounds[i + 1] and not alone(strings[i]):
                at = bounds[i + 1]
                continue
        found[i] = 1
        at = bounds[i + 1]
        count += 1
        if count > 32 and 2 * count > i:  # most strings hold it: search each instead
            found[i + 1 :] = bytes(map(bool, map(alone, strings[i + 1 :])))
            break
    return bytes(found)


def _bounds(strings: list[str]) -> list[int]:
    """Where each string starts in the strings joined by line breaks, and where the text
    would continue after the last."""
    return list(accumulate(map((1).__add__, map(len, strings)), initial=0))


def _literal_prefix(pattern: re.Pattern[str]) -> str | None:
    """The ASCII letters (lower case) every match of a case-blind pattern begins with, when
    there are at least three and no alternation: a match can only start where `find`
    finds them in lower-cased ASCII text, so the regex engine, which cannot skip ahead
    when matching regardless of case, is run only there."""
    if not pattern.flags & re.IGNORECASE or "|" in pattern.pattern:
        return None
    literal = _PREFIX.match(pattern.pattern)
    text = literal.group() if literal is not None else ""
    if pattern.pattern[len(text) : len(text) + 1] in ("?", "*", "{"):
        text = text[:-1]  # the last one may be absent
    return text.lower() if len(text) >= 3 else None


_PREFIX = re.compile(r"[A-Za-z0-9 _-]+")
_WORD = re.compile(r"(?:[A-Za-z0-9_ -]|\\-)+")
"""A pattern that is an ASCII word (spaces and `\\-` included): it matches only itself."""
_EDGES = re.compile(r"[$^]|\\[bB]")
"""Anchors and word boundaries: they match at a string's edges as at a line break's."""
_LOOKING = re.compile(r"\\[AZ]|\(\?")
"""Syntax that sees past a line break (lookarounds, the string's own start and end; `(?`
conservatively, flags and groups too)."""


def _narrow(ids: list[int], distinct: int) -> bytes | array[int]:
    """Ids in one byte each when the table allows, so masks are one `translate`."""
    return bytes(ids) if distinct <= 256 else array("H", ids)


def _pick(ids: bytes | array[int], allowed: Sequence[int]) -> bytes:
    if isinstance(ids, bytes):
        table = bytes(allowed) + bytes(256 - len(allowed))
        return ids.translate(table)
    return bytes(allowed[i] for i in ids)


def _as_int(mask: bytes) -> int:
    return int.from_bytes(mask, "little")


class RecordStore:
    """The newest `capacity` records, addressed by an absolute index."""

    def __init__(self, capacity: int, block: int = BLOCK) -> None:
        self.capacity = capacity
        self.block = block
        self.start = 0
        self.end = 0
        self._sealed: list[_Sealed] = []
        self._bases: list[int] = []
        """Each sealed block's first index, for bisecting."""
        self._open: list[Mapping[str, Any]] = []
        self._open_base = 0
        self._unpacked: OrderedDict[int, list[bytes]] = OrderedDict()

    def __len__(self) -> int:
        return self.end - self.start

    def extend(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Add records, oldest first; the number of oldest records evicted to make room."""
        self._open.extend(records)
        self.end += len(records)
        while len(self._open) >= self.block:
            self._seal()
        evicted = max(0, len(self) - self.capacity)
        if evicted:
            self.start += evicted
            self._drop_evicted()
        return evicted

    def replace(self, index: int, records: Sequence[Mapping[str, Any]]) -> int:
        """Put `records` where the record at `index` is: the records after it move by
        `len(records) - 1`. The number of oldest records evicted to stay within capacity."""
        if not self.start <= index < self.end:
            raise IndexError(index)
        shift = len(records) - 1
        if index >= self._open_base:
            at = index - self._open_base
            self._open[at : at + 1] = records
        else:
            position = bisect_right(self._bases, index) - 1
            block = self._sealed[position]
            held = self._records_of(block)
            at = index - block.base
            held[at : at + 1] = records
            pieces = [_Sealed(block.base + first, held[first : first + self.block])
                      for first in range(0, len(held), self.block)]
            for later in self._sealed[position + 1 :]:
                later.base += shift
            self._sealed[position : position + 1] = pieces
            self._bases = [sealed.base for sealed in self._sealed]
            self._open_base += shift
        self.end += shift
        self._unpacked.clear()
        while len(self._open) >= self.block:
            self._seal()
        evicted = max(0, len(self) - self.capacity)
        if evicted:
            self.start += evicted
            self._drop_evicted()
        return evicted

    def _seal(self) -> None:
        self._sealed.append(_Sealed(self._open_base, self._open[: self.block]))
        self._bases.append(self._open_base)
        self._open = self._open[self.block :]
        self._open_base += self.block

    def _records_of(self, block: _Sealed) -> list[Mapping[str, Any]]:
        lines = self._lines(block)
        odd = block.odd
        return [odd[offset] if offset in odd else orjson.loads(line)
                for offset, line in enumerate(lines)]

    def _drop_evicted(self) -> None:
        sealed = self._sealed
        gone = 0
        while gone < len(sealed) and sealed[gone].base + sealed[gone].count <= self.start:
            self._unpacked.pop(sealed[gone].base, None)
            gone += 1
        if gone:
            del sealed[:gone]
            del self._bases[:gone]
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
        return self._sealed[bisect_right(self._bases, index) - 1]

    def _lines(self, block: _Sealed) -> list[bytes]:
        lines = self._unpacked.get(block.base)
        if lines is None:
            lines = self._unpacked[block.base] = block.text().split(b"\n")
            if len(self._unpacked) > UNPACKED_BLOCKS:
                self._unpacked.popitem(last=False)
        else:
            self._unpacked.move_to_end(block.base)
        return lines

    def clear(self) -> None:
        self._sealed.clear()
        self._bases.clear()
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
    ) -> Iterable[int]:
        """Absolute indices, ascending: taken from the mask in C, not one by one."""
        begin, stop = first - block.base, last - block.base
        odd = [block.base + o for o in block.odd
               if begin <= o < stop and log_filter.matches(block.odd[o])]
        mask = block.column_mask(log_filter)
        pattern = log_filter.pattern
        if mask is not None and pattern is not None:
            hits = block.text_hits(pattern)
            if log_filter.invert:
                hits ^= _as_int(b"\x01" * block.count)
            mask = (_as_int(mask) & hits).to_bytes(block.count, "little")
        found = () if mask is None else compress(range(first, last), mask[begin:stop])
        return sorted([*found, *odd]) if odd else found
