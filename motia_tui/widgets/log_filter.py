"""Parse and apply the Logs pane filter, and format a record as styled segments.

The logs pane may hold a million records, so `LogFilter.matches` is a short chain of early
exits over precomputed values; JSON of a record's extra fields is only built when a text term
is present and the message alone did not decide.
"""

from __future__ import annotations

import re
from _json import make_encoder
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from itertools import groupby, repeat
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any

LEVELS = ("debug", "info", "warn", "error")
LEVEL_ALIASES = {"warning": "warn"}
STANDARD_FIELDS = frozenset({"level", "time", "msg", "traceId", "spanId", "step", "flows"})

_RANK = {name: rank for rank, name in enumerate(LEVELS)}
_UNKNOWN_RANK = _RANK["info"]
_TOKEN = re.compile(r"(level|step|flow|trace):(.*)", re.IGNORECASE)
_BARE = re.compile(r"[^\s\"=]+")

Segment = tuple[str, str]  # (text, style name); "" styles separators


@dataclass(frozen=True, slots=True)
class LogFilter:
    """A parsed filter; every present term must hold for a record to match."""

    min_level: str | None = None
    steps: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    traces: tuple[str, ...] = ()
    text: str = ""
    invert: bool = False
    literal: bool = field(init=False)  # text was not a valid regex, so it matches literally
    is_empty: bool = field(init=False)
    _rank: int = field(init=False, repr=False, compare=False)
    _steps: frozenset[str] = field(init=False, repr=False, compare=False)
    _flows: frozenset[str] = field(init=False, repr=False, compare=False)
    _traces: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern: re.Pattern[str] | None = None
        literal = False
        if self.text:
            try:
                pattern = re.compile(self.text, re.IGNORECASE)
            except re.error:
                pattern = re.compile(re.escape(self.text), re.IGNORECASE)
                literal = True
        rank = _RANK[self.min_level] if self.min_level else 0
        values = {
            "literal": literal,
            "is_empty": not (rank or self.steps or self.flows or self.traces or pattern),
            "_rank": rank,
            "_steps": frozenset(s.casefold() for s in self.steps),
            "_flows": frozenset(f.casefold() for f in self.flows),
            "_traces": tuple(t.casefold() for t in self.traces),
            "_pattern": pattern,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def min_rank(self) -> int:
        """The lowest level rank that passes (0: any level)."""
        return self._rank

    @property
    def pattern(self) -> re.Pattern[str] | None:
        return self._pattern

    def column_terms(self) -> list[tuple[str, Callable[[Any], bool]]]:
        """The step, flows and trace terms in force, each as a test of the value that
        `step_key`, `flows_key` or `trace_key` gives for a record."""
        terms: list[tuple[str, Callable[[Any], bool]]] = []
        if self._steps:
            terms.append(("step", self._step_passes))
        if self._flows:
            terms.append(("flows", self._flows_pass))
        if self._traces:
            terms.append(("trace", self._trace_passes))
        return terms

    def _step_passes(self, step: str) -> bool:
        return {step} == self._steps

    def _flows_pass(self, flows: frozenset[str]) -> bool:
        return self._flows <= flows

    def _trace_passes(self, trace: str) -> bool:
        return all(trace.startswith(prefix) for prefix in self._traces)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Cheapest checks first; each multi-valued term needs all its values to hold."""
        if self.is_empty:
            return True
        if self._rank and level_rank(record) < self._rank:
            return False
        if self._steps and not self._step_passes(step_key(record)):
            return False
        if self._traces and not self._trace_passes(trace_key(record)):
            return False
        if self._flows and not self._flows_pass(flows_key(record)):
            return False
        if self._pattern is not None:
            return text_hit(self._pattern, record) != self.invert
        return True


def level_rank(record: Mapping[str, Any]) -> int:
    return rank_of_level(record.get("level"))


def rank_of_level(level: Any) -> int:
    return _RANK.get(str(level), _UNKNOWN_RANK)


def step_key(record: Mapping[str, Any]) -> str:
    return casefolded(record.get("step"))


def trace_key(record: Mapping[str, Any]) -> str:
    return casefolded(record.get("traceId"))


def casefolded(value: Any) -> str:
    """A step name or trace id as filters compare them (a missing one is empty)."""
    return str(value or "").casefold()


def message_key(record: Mapping[str, Any]) -> str:
    return message_text(record.get("msg"))


def message_text(message: Any) -> str:
    return str(message or "")


def flows_key(record: Mapping[str, Any]) -> frozenset[str]:
    return flows_of(record.get("flows"))


def flows_of(flows: Any) -> frozenset[str]:
    """A record's flows; a lone value that is not a list counts as one flow."""
    flows = flows or ()
    if not isinstance(flows, list | tuple):
        flows = (flows,)
    return frozenset(str(name).casefold() for name in flows)


def parse_filter(text: str) -> LogFilter:
    """`level:warn step:Name flow:name trace:abc` tokens plus free text, `!text` inverting.

    A token with no value yet (`step:` while typing) is ignored; an unknown level is kept as
    free text so the user sees it match nothing rather than silently vanish.
    """
    levels: list[str] = []
    values: dict[str, list[str]] = {"step": [], "flow": [], "trace": []}
    words: list[str] = []
    for word in text.split():
        token = _TOKEN.fullmatch(word)
        if token is None:
            words.append(word)
            continue
        key, value = token.group(1).lower(), token.group(2)
        if not value:
            continue
        if key != "level":
            values[key].append(value)
        elif (level := _level(value)) is not None:
            levels.append(level)
        else:
            words.append(word)
    free = " ".join(words)
    invert = free.startswith("!")
    return LogFilter(
        min_level=max(levels, key=_RANK.__getitem__) if levels else None,
        steps=tuple(values["step"]),
        flows=tuple(values["flow"]),
        traces=tuple(values["trace"]),
        text=free[1:].strip() if invert else free,
        invert=invert,
    )


def format_record(record: Mapping[str, Any], tz: tzinfo | None = None) -> list[Segment]:
    """`HH:MM:SS.mmm LEVEL step trace[:8] msg key=value ...` as (text, style) segments.

    Styles are "log-time", "log-<level>", "log-step", "log-trace", "log-msg", "log-key",
    "log-value" and "" for separators; `tz` defaults to local time.
    """
    level = str(record.get("level") or "info")
    segments: list[Segment] = [
        (_clock(record.get("time"), tz), "log-time"),
        (" ", ""),
        (level.upper().ljust(5), f"log-{level}" if level in _RANK else "log-info"),
    ]
    if record.get("step"):
        segments += [(" ", ""), (str(record["step"]), "log-step")]
    if record.get("traceId"):
        segments += [(" ", ""), (str(record["traceId"])[:8], "log-trace")]
    msg = str(record.get("msg") or "").replace("\r\n", "\n").replace("\n", "↵")
    segments += [(" ", ""), (msg, "log-msg")]
    for key, value in record.items():
        if key not in STANDARD_FIELDS:
            segments += [(" ", ""), (f"{key}=", "log-key"), (_field(value), "log-value")]
    return segments


def text_hit(pattern: re.Pattern[str], record: Mapping[str, Any]) -> bool:
    """What free text searches: the message, and the extra fields as JSON."""
    if pattern.search(message_key(record)):
        return True
    extra = fields_text(record)
    return extra is not None and pattern.search(extra) is not None


def fields_text(record: Mapping[str, Any]) -> str | None:
    """The record's extra fields as free text searches them (JSON, one line), or None when
    it has none."""
    if record.keys() <= STANDARD_FIELDS:  # most records: no dict built to find out
        return None
    extra = {k: v for k, v in record.items() if k not in STANDARD_FIELDS}
    return _to_json(extra) if extra else None


def fields_texts(records: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """`fields_text` of each record, worked out a run of records with the same keys in the
    same order at a time (a step's records mostly are): the run's extra fields are picked,
    made dicts and encoded in C, with no Python call a record."""
    texts: list[str | None] = []
    at = 0
    for layout, run in groupby(map(tuple, records)):
        size = len(list(run))
        extra = tuple(key for key in layout if key not in STANDARD_FIELDS)
        if not extra:
            texts.extend(repeat(None, size))
        else:
            picked = records[at : at + size]
            values = (map(itemgetter(*extra), picked) if len(extra) > 1
                      else zip(map(itemgetter(extra[0]), picked)))
            texts.extend(map("".join, map(_ENCODE, map(dict, map(zip, repeat(extra), values)),
                                          repeat(0))))
        at += size
    return texts


def _level(value: str) -> str | None:
    """Full names, aliases, or any prefix (`level:w` while typing)."""
    value = value.lower()
    value = LEVEL_ALIASES.get(value, value)
    return next((name for name in LEVELS if name.startswith(value)), None)


_ENCODE = make_encoder(None, str, encode_basestring, None, ": ", ", ", False, False, True)
"""The C encoder `json.dumps(value, default=str, ensure_ascii=False)` builds on every call,
built once: the Logs pane encodes every record's extra fields as it files them, and
`JSONEncoder.encode` costs twice the encoding itself in setting up. No circular check: a
record was JSON before it got here."""


def _to_json(value: Any) -> str:
    return "".join(_ENCODE(value, 0))


def _field(value: Any) -> str:
    """Bare words as is; anything that could be misread (spaces, quotes, non-strings) as JSON."""
    if isinstance(value, str) and _BARE.fullmatch(value):
        return value
    return _to_json(value)


def _clock(time_ms: Any, tz: tzinfo | None) -> str:
    if not isinstance(time_ms, int | float):
        return "--:--:--.---"
    stamp = datetime.fromtimestamp(time_ms / 1000, tz)
    return f"{stamp:%H:%M:%S}.{int(time_ms) % 1000:03d}"
