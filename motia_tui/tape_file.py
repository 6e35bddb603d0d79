"""Reading an engine tape: find a run's part files and index their lines, so replay can
open a 50 MB tape without parsing every event (each line's time and type are read from its
first bytes; the event itself is parsed when the cursor reaches it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.events import SPAN_END, SPAN_RUN, SPAN_START, running_view
from motia_tui.tape import END, HEADER, SNAPSHOT, runs

_RUN = SPAN_RUN.encode()


class TapeError(Exception):
    """A file that is not a tape, or no tape where one was expected."""


@dataclass(slots=True)
class Tape:
    """A run's lines, indexed: the snapshot, then one entry per event."""

    run: str
    paths: list[Path]
    header: dict[str, Any]
    snapshot: dict[str, Any]
    snapshot_time: float
    lines: list[bytes] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    ended: bool = False
    """The run stopped cleanly (`tape.end`); False for a tape cut short by a crash."""
    cut_bytes: int = 0
    """Bytes of an incomplete last line left out (what a kill -9 cut mid-write)."""
    runs: set[int] = field(default_factory=set)
    """The events that are the start of a `span.run` line (its end is the next event, of the
    same line)."""


def find_tape(target: Path) -> list[Path]:
    """The part files of the run `target` names: a tape file (any part of its run), a
    sessions folder or a project folder (its newest run)."""
    if target.is_file():
        with target.open("rb") as file:
            start = file.read(200)
        if not start.startswith(b'{"time":') or f'"type":"{HEADER}"'.encode() not in start:
            raise TapeError(
                f"{target} is not an engine tape (a demo script runs with `motia demo`)"
            )
        parts = runs(target.parent)
        for paths in parts.values():
            if target.resolve() in [p.resolve() for p in paths]:
                return paths
        return [target]
    for folder in (target / ".motia" / "sessions", target):
        found = runs(folder)
        if found:
            return found[list(found)[-1]]
    raise TapeError(f"no engine tape in {target} (motia dev records one under .motia/sessions/)")


def _time_and_type(line: bytes) -> tuple[float, bytes]:
    """From the start of a line as the recorder writes it: `{"time":T,"type":"X",...`."""
    if not line.startswith(b'{"time":'):
        raise ValueError("not a tape line")
    comma = line.index(b",", 8)
    start = line.index(b'"type":"', comma) + 8
    return float(line[8:comma]), line[start : line.index(b'"', start)]


def _end_time(line: bytes) -> float:
    """A `span.run` line's end: `{"time":T,"type":"span.run","end":E,...`."""
    start = line.index(b'"end":') + 6
    return float(line[start : line.index(b",", start)])


def event_at(tape: Tape, index: int) -> Any:
    """Event `index` (0-based) as the events websocket would have sent it: a `span.run` line
    is its span's `span.start` and then its `span.end`. Raises `orjson.JSONDecodeError` for a
    damaged line."""
    value = orjson.loads(tape.lines[index])
    if type(value) is not dict or value.get("type") != SPAN_RUN:
        return value
    data = value.get("data")
    if index in tape.runs:
        started = running_view(dict(data)) if type(data) is dict else data
        return {"time": value.get("time"), "type": SPAN_START, "data": started}
    return {"time": value.get("end"), "type": SPAN_END, "data": data}


def _split(data: bytes, last: bool) -> tuple[list[bytes], int]:
    """A file's whole lines, and the size of an incomplete last one (only the last part of a
    run may end in one: what a kill -9 cut mid-write)."""
    lines = data.split(b"\n")
    tail = lines.pop()
    if not tail:
        return lines, 0
    if last:
        try:
            orjson.loads(tail)
        except orjson.JSONDecodeError:
            return lines, len(tail)
    return [*lines, tail], 0


def read_tape(target: Path) -> Tape:
    """Index a run's lines; an incomplete last line is left out, never an error."""
    paths = find_tape(target)
    header: dict[str, Any] = {}
    tape: Tape | None = None
    for number, path in enumerate(paths):
        lines, cut = _split(path.read_bytes(), number == len(paths) - 1)
        for line in lines:
            if not line:
                continue
            try:
                moment, kind = _time_and_type(line)
            except ValueError:
                raise TapeError(f"{path}: not an engine tape line: {line[:80]!r}") from None
            if tape is None:
                if kind == HEADER.encode():
                    header = orjson.loads(line)["data"]
                elif kind == SNAPSHOT.encode():
                    run = str(header.get("run", path.stem))
                    tape = Tape(run, paths, header, orjson.loads(line)["data"], moment)
                else:
                    raise TapeError(f"{path}: a tape opens with a header and a snapshot")
            elif kind == END.encode():
                tape.ended = True
            elif kind == _RUN:
                try:
                    end = _end_time(line)
                except ValueError:
                    raise TapeError(f"{path}: a span.run line with no end: {line[:80]!r}") from None
                tape.runs.add(len(tape.lines))
                tape.lines += (line, line)
                tape.times += (moment, end)
            elif kind != HEADER.encode():
                tape.lines.append(line)
                tape.times.append(moment)
        if tape is not None:
            tape.cut_bytes = cut
    if tape is None:
        raise TapeError(f"{paths[0]}: no snapshot: the recording stopped before it began")
    return tape
