"""The compact log store answers exactly what a plain list of dicts answers.

The reference is the straightforward store the Logs pane had before: every record a dict
in a list, the newest `capacity` kept, a filter applied by `LogFilter.matches` to each.
Seeded random records (odd types, non-ASCII, exponent floats, NaN, huge ints included) go
through both in random batches, with filters set, scanned in random chunks and evicted
meanwhile; every record, every filtered line and its order must agree.
"""

from __future__ import annotations

import math
import random
import re
import zlib
from typing import Any

import pytest

from motia_tui.log_buffer import LogBuffer
from motia_tui.log_store import (
    RecordStore,
    _literal_prefix,
    _pack_by_column,
    _pack_each,
    _packer,
)
from motia_tui.widgets.log_filter import parse_filter

WORDS = ["alpha", "Beta", "gamma", "kelvin", "\u212aelvin", "Ses", "naïve", "line 5", "x:y",
         "a,b", 'quo"te', "back\\slash", "tab\there", "new\nline", "1e-07", "nan", "0.000015"]
FILTERS = ["", "level:warn", "level:error", "level:d", "step:Step1", "step:step2 step:Step2",
           "flow:f1", "flow:F2 flow:f1", "trace:0a", "trace:0A trace:0ab", "alpha", "kelvin",
           "ses", "!alpha", "line 5", "line", "x:y", "1e-07", "07", "0.000015", "nan", "inf",
           "a,b", "quo", "gamma|beta", "^event", "event \\d+$", "[", "level:warn gamma",
           "step:Step3 !beta", "flow:f2 trace:1", "15", "true", "null", "None", "\u212a", "k",
           "level:info step:Step0 flow:f1 trace:0 alpha"]


def random_record(rng: random.Random, n: int) -> dict[str, Any]:
    record: dict[str, Any] = {
        "level": rng.choice(["debug", "info", "warn", "error", "info", "warning", "fatal"]),
        "time": 1_700_000_000_000 + n + rng.random(),
        "msg": rng.choice([f"event {n}", rng.choice(WORDS), f"{rng.choice(WORDS)} {n}"]),
    }
    if rng.random() < 0.9:
        record["traceId"] = f"{rng.randrange(300):03x}{'ab' if rng.random() < 0.5 else 'cd'}"
    if rng.random() < 0.8:
        record["step"] = rng.choice(["Step0", "Step1", "step2", "STEP2", "Step3", ""])
    if rng.random() < 0.8:
        record["flows"] = rng.sample(["f1", "F1", "f2", "g"], rng.randrange(3))
    for key in rng.sample(["line", "user", "ratio", "tags", "nested", "flag"], rng.randrange(4)):
        record[key] = rng.choice([
            n, rng.choice(WORDS), rng.random(), 10.0 ** rng.randrange(-9, 20), True, None,
            [1, "two"], {"deep": rng.choice(WORDS)},
        ])
    odd = rng.random()
    if odd < 0.02:
        record["msg"] = ("tuple", n)
    elif odd < 0.04:
        record["ratio"] = math.nan
    elif odd < 0.06:
        record["big"] = 2**80 + n
    elif odd < 0.07:
        record["flows"] = rng.choice([5, "f1"])  # not a list: one flow
    elif odd < 0.08:
        record["when"] = {1, 2}
    if rng.random() < 0.3:
        record = dict(reversed(list(record.items())))  # key order is kept
    return record


class Reference:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[dict[str, Any]] = []
        self.start = 0

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if len(self.records) - self.start > self.capacity:
            self.start += 1

    def live(self) -> list[dict[str, Any]]:
        return self.records[self.start :]

    def matching(self, text: str) -> list[dict[str, Any]]:
        log_filter = parse_filter(text)
        return [r for r in self.live() if log_filter.matches(r)]


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included."""
    return repr(a) == repr(b)


@pytest.mark.parametrize("seed", range(6))
def test_store_answers_what_a_list_of_dicts_answers(seed: int) -> None:
    rng = random.Random(seed)
    capacity = rng.choice([50, 300, 1000])
    block = rng.choice([7, 16, 64])
    buffer = LogBuffer(capacity, block)
    reference = Reference(capacity)
    n = 0
    for _round in range(12):
        text = rng.choice(FILTERS)
        buffer.set_filter(parse_filter(text))
        while buffer.scanning:
            buffer.scan(budget=rng.randrange(1, 3 * block))
            fresh = [random_record(rng, n + i) for i in range(rng.randrange(0, 2 * block))]
            n += len(fresh)
            buffer.append(fresh)
            for record in fresh:
                reference.append(record)
        fresh = [random_record(rng, n + i) for i in range(rng.randrange(0, capacity))]
        n += len(fresh)
        buffer.append(fresh)
        for record in fresh:
            reference.append(record)
        expected = reference.matching(text) if text else reference.live()
        shown = [buffer.record_at(line) for line in range(len(buffer))]
        assert same(shown, expected), f"filter {text!r} after {n} records"
    store = buffer.ring
    assert (store.start, store.end) == (reference.start, len(reference.records))
    assert same([store[i] for i in range(store.start, store.end)], reference.live())


def test_every_filter_over_sealed_blocks_matches_record_by_record() -> None:
    rng = random.Random(20)
    records = [random_record(rng, n) for n in range(3000)]
    store = RecordStore(capacity=10_000, block=256)
    for record in records:
        store.extend([record])
    for text in FILTERS:
        log_filter = parse_filter(text)
        expected = [i for i, r in enumerate(records) if log_filter.matches(r)]
        assert store.matching(log_filter, 0, len(records)) == expected, text
        assert store.matching(log_filter, 700, 2100) == [i for i in expected if 700 <= i < 2100]


def test_evicted_records_are_gone_and_blocks_are_freed() -> None:
    store = RecordStore(capacity=10, block=4)
    for n in range(30):
        store.extend([{"level": "info", "time": n, "msg": f"m{n}"}])
    assert (store.start, store.end, len(store)) == (20, 30, 10)
    assert [store[i]["msg"] for i in range(20, 30)] == [f"m{n}" for n in range(20, 30)]
    with pytest.raises(IndexError):
        store[19]
    assert len(store._sealed) <= 3
    at_once = RecordStore(capacity=10, block=4)
    assert at_once.extend([{"level": "info", "time": n, "msg": f"m{n}"} for n in range(30)]) == 20
    assert (at_once.start, at_once.end) == (20, 30)
    assert [at_once[i]["msg"] for i in range(20, 30)] == [f"m{n}" for n in range(20, 30)]
    assert len(at_once._sealed) <= 3


PIECES = ["alpha", "ALPHA", "event", "line", "5", r"\d+", r"\d", "e", "ses", "\u212a", "na",
          "ï", '"', ": ", ", ", "true", "null", "deep", r"\s", r"\w+", ".", ".*", "[a-c]",
          "(?:ta|be)", "b?", r"\\", "quo", "1e", "07", "2", "two", "{", "}", "[1"]


def random_pattern(rng: random.Random) -> str:
    """A regular expression built from words, classes and quantifiers found in the records,
    anchored or not: what a user types into the filter box."""
    body = "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 4)))
    if rng.random() < 0.2:
        body = f"{body}|{rng.choice(PIECES)}"
    head = rng.choice(["", "", "^", r"\A", r"\b", "(?-i:"])
    tail = rng.choice(["", "", "$", r"\Z", r"\b"])
    if head == "(?-i:":
        tail = ")"
    text = head + body + tail
    return ("!" + text) if rng.random() < 0.15 else text


def test_text_and_regex_search_over_blocks_is_what_each_record_answers() -> None:
    """The block search (one compiled pattern over each block's messages and fields) against
    `LogFilter.matches` record by record, for random patterns with anchors, case and
    fields, alone and combined with column terms."""
    rng = random.Random(7)
    records = [random_record(rng, n) for n in range(2500)]
    store = RecordStore(capacity=10_000, block=128)
    for record in records:
        store.extend([record])
    for _round in range(100):
        text = random_pattern(rng)
        if rng.random() < 0.3:
            text = f"{rng.choice(FILTERS[1:10])} {text}"
        log_filter = parse_filter(text)
        expected = [i for i, r in enumerate(records) if log_filter.matches(r)]
        assert store.matching(log_filter, 0, len(records)) == expected, text


ASCII_WORDS = ["alpha", "Beta", "line 5", "Line 57", "x:y", "quo\"te", "lines", "gamma"] + [
    "delta"] * 30 + ["Event 7", "event"]
"""Some words in most records, some in few (`event`): a start found in most records is left
to the regex engine, one found in few is where the pattern is tried."""
PREFIXED = ["line", "Line 5", "event", "alp", "lin", "even", "quo", "line ?", "eve?", "liNe*",
            "line{1}", "line 5|x"]


def test_a_regex_that_starts_with_letters_is_run_only_where_they_are() -> None:
    """In ASCII text a case-blind pattern that starts with a few letters is tried only where
    they are found: the same records as record by record, for patterns whose start is
    optional, repeated, alternated or present in most records."""
    rng = random.Random(11)
    records = []
    for n in range(3000):
        record: dict[str, Any] = {"level": "info", "time": n,
                                  "msg": f"{rng.choice(ASCII_WORDS)} {n}"}
        if rng.random() < 0.7:
            record["detail"] = rng.choice(ASCII_WORDS) + rng.choice(["", " 7", "\n57"])
        records.append(record)
    store = RecordStore(capacity=10_000, block=256)
    for record in records:
        store.extend([record])
    for _round in range(80):
        text = rng.choice(PREFIXED) + "".join(rng.choice(PIECES) for _ in range(rng.randrange(3)))
        text += rng.choice(["", "$", r"\b"])
        log_filter = parse_filter(text)
        expected = [i for i, r in enumerate(records) if log_filter.matches(r)]
        assert store.matching(log_filter, 0, len(records)) == expected, text
    assert _literal_prefix(re.compile(r"Line \d+7$", re.IGNORECASE)) == "line "
    assert _literal_prefix(re.compile("lines?", re.IGNORECASE)) == "line"
    assert _literal_prefix(re.compile("line|x", re.IGNORECASE)) is None
    assert _literal_prefix(re.compile("li.", re.IGNORECASE)) is None


@pytest.mark.parametrize("seed", range(4))
def test_replacing_a_record_with_many_is_a_list_splice(seed: int) -> None:
    """A gap line filled in: `replace` answers what splicing a list answers, records and
    filters alike, over sealed and open blocks, with eviction past the capacity."""
    rng = random.Random(100 + seed)
    capacity, block = rng.choice([(400, 16), (2000, 64), (150, 7)])
    store = RecordStore(capacity, block)
    live: list[dict[str, Any]] = []
    n = 0
    for _round in range(40):
        fresh = [random_record(rng, n + i) for i in range(rng.randrange(0, 3 * block))]
        n += len(fresh)
        for record in fresh:
            store.extend([record])
        live = (live + fresh)[-capacity:]
        if live and rng.random() < 0.7:
            at = rng.randrange(len(live))
            spliced = [random_record(rng, n + i) for i in range(rng.choice([0, 1, 5, 3 * block]))]
            n += len(spliced)
            evicted = store.replace(store.start + at, spliced)
            live[at : at + 1] = spliced
            assert evicted == max(0, len(live) - capacity)
            live = live[len(live) - min(len(live), capacity):]
        assert store.end - store.start == len(live)
        assert same([store[i] for i in range(store.start, store.end)], live)
        text = rng.choice(FILTERS)
        log_filter = parse_filter(text)
        expected = [store.start + i for i, r in enumerate(live) if log_filter.matches(r)]
        assert store.matching(log_filter, store.start, store.end) == expected, text


def test_an_engine_record_with_flows_as_a_tuple_is_packed_and_reads_back_as_a_list() -> None:
    """The engine's records hold their flows as a shared tuple; one with a null field (no
    span) still goes into its block as a line, not kept aside as the dict it is."""
    store = RecordStore(capacity=10, block=2)
    for n in range(2):
        store.extend([{"level": "info", "time": n, "msg": f"m{n}", "traceId": None,
                       "spanId": None, "flows": ("f1", "f2"), "step": None}])
    assert not store._sealed[0].odd
    assert [store[i]["flows"] for i in range(2)] == [["f1", "f2"]] * 2
    assert store.matching(parse_filter("flow:f2"), 0, 2) == [0, 1]


def test_a_block_packed_by_column_is_what_packing_record_by_record_makes() -> None:
    """The column-at-a-time packing, which the Logs pane takes for plain records, makes the
    same lines, ranks, ids, tables and field texts as the record-at-a-time one, over blocks
    of every shape the random records make (steps, flows, traces, messages and extra fields
    in runs and mixed); a block with an odd record is left to the record-at-a-time one."""
    rng = random.Random(7)
    packed = 0
    for size in (1, 2, 17, 300, 4096):
        for _ in range(4):
            records = [random_record(rng, n) for n in range(size)]
            if rng.random() < 0.5:  # runs of one layout, as a busy step's records come
                records.sort(key=lambda r: tuple(r))
            by_column = _pack_by_column(records)
            by_record = _pack_each(records)
            if by_record.odd:
                assert by_column is None
                continue
            assert by_column == by_record
            packed += 1
    assert packed >= 4


def test_blocks_answer_the_same_before_and_after_the_packer_compresses_them() -> None:
    rng = random.Random(3)
    records = [random_record(rng, n) for n in range(600)]
    store = RecordStore(capacity=1_000, block=100)
    store.extend(records)
    blocks = list(store._sealed)

    def answers() -> tuple[list[Any], list[list[int]]]:
        store._unpacked.clear()
        return ([store[i] for i in range(store.start, store.end)],
                [store.matching(parse_filter(text), 0, 600) for text in FILTERS])

    _packer().submit(lambda: None).result(timeout=10)  # one thread: the blocks' went first
    for block in blocks:  # plain again, as just sealed
        parts, compressed = block.packed.state
        assert compressed
        block.packed.state = (tuple(zlib.decompress(part) for part in parts), False)
    plain = answers()
    for block in blocks:
        block.packed._compress()
    assert all(block.packed.state[1] for block in blocks)
    assert same(plain, answers())
    assert same(plain[0], records)


def test_the_packer_compresses_a_sealed_block_off_the_loop() -> None:
    store = RecordStore(capacity=100, block=10)
    for n in range(10):
        store.extend([{"level": "info", "time": n, "msg": "same message " * 20}])
    _packer().submit(lambda: None).result(timeout=10)  # one thread: the block's went first
    parts, compressed = store._sealed[0].packed.state
    assert compressed
    assert len(parts[0]) < 10 * len("same message ") * 20 // 4
    assert store[3]["msg"] == "same message " * 20
