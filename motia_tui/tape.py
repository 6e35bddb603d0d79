"""The engine tape: every `motia dev` and `motia tui` run keeps its engine event stream on disk.

A run's tape is JSON lines under `.motia/sessions/`: a `tape.header` line, a `tape.snapshot` of
what the project held when recording began (state, stream items, steps, counters, dead letters
and this run's first logs and traces, bounded by `tape_snapshot_bytes`; what did not fit is
counted in `omitted`), then every engine event as `{"time", "type", "data"}`, and `tape.end`
after a clean stop. Past `tape_part_bytes` a run continues in a new part file that opens with
its own header; at start only the `tape_runs` newest runs are kept.

The loop pays one deque append per event; a span's end comes encoded (`EventHub.wants_bytes`),
so no request's dicts wait for the writer, and its start as the running span, encoded only if
the writer takes it before the span ends. A span whose start and end came with no event between
them (most short runs) is one line, `{"time": start, "type": "span.run", "end": end time,
"data": the ended span}`, that a reader takes for both events (`tape_file.event_at`). A writer
thread takes the events every 50 ms, serialises the rest, masks them (`engine.masking`) and
writes; disk I/O never happens on the loop.
Should the writer fall `buffer_events` behind, the newest events are refused and counted, and
the tape gets an `events.dropped` line with the count where the hole is. Lines are written
whole, so a tape cut short by a crash is readable up to its last complete line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from engine import jsonio
from engine.events import EVENTS_DROPPED, LOG, SPAN_RUN, ThreadSubscription
from engine.masking import Masker, secret_values
from engine.runtime import Engine
from motia_tui.request_env import every_secret

TAPE_VERSION = 2
"""2: a span whose start and end came with no event between them may be one `span.run` line."""
HEADER, SNAPSHOT, END = "tape.header", "tape.snapshot", "tape.end"
BUFFER_EVENTS = 200_000
"""Events the loop may publish ahead of the writer: several seconds of a busy server."""
WRITE_INTERVAL_S = 0.05
"""The writer wakes this often: small enough that a crash loses little, large enough that each
write carries a batch."""
_OPTIONS = orjson.OPT_NON_STR_KEYS
_PART = re.compile(r"^(?P<run>.+?)(?:\.part(?P<part>\d+))?\.jsonl$")


@dataclass(frozen=True, slots=True)
class TapeFile:
    """One part file of one run."""

    run: str
    part: int
    path: Path


def tape_files(folder: Path) -> Iterator[TapeFile]:
    """Every part file under `folder`, in no particular order."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        match = _PART.match(path.name)
        if match and path.is_file():
            yield TapeFile(match["run"], int(match["part"] or 1), path)


def runs(folder: Path) -> dict[str, list[Path]]:
    """Each run's part files in order, oldest run first (run names sort by start time)."""
    found: dict[str, list[TapeFile]] = {}
    for tape in tape_files(folder):
        found.setdefault(tape.run, []).append(tape)
    return {
        run: [t.path for t in sorted(found[run], key=lambda t: t.part)] for run in sorted(found)
    }


def part_path(folder: Path, run: str, part: int) -> Path:
    return folder / (f"{run}.jsonl" if part == 1 else f"{run}.part{part}.jsonl")


def new_run_name(now: float | None = None) -> str:
    """Sortable by start time, unique per process: `20261201T081512.345Z-4242`."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}.{int(now * 1000) % 1000:03d}Z-{os.getpid()}"


def prune(folder: Path, keep: int) -> list[str]:
    """Remove all but the `keep` newest runs; answer the runs removed."""
    existing = runs(folder)
    removed = list(existing)[: max(0, len(existing) - keep)]
    for run in removed:
        for path in existing[run]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return removed


LOG_LINE = b'{"time":%b,"type":"' + LOG.encode() + b'","data":%b}\n'
"""A log record's line, from its time and the JSON the engine encoded (`event_line`'s)."""
RUN_LINE = b'{"time":%b,"type":"span.run","end":%b,"data":%b}\n'
"""A span's start and end as one line: its start, its end, the ended span's JSON (filled in
the writer's loop without a call: most lines are these)."""


def event_line(time_ms: float, type_: str, data: Any) -> bytes:
    """One tape line; `time` and `type` come first, so a reader can index a tape without
    parsing the data. `data` as bytes is already JSON (a span the engine encoded)."""
    if type(data) is bytes:
        return b'{"time":%b,"type":"%b","data":%b}\n' % (
            orjson.dumps(time_ms), type_.encode(), data
        )
    line = {"time": time_ms, "type": type_, "data": data}
    try:
        return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return jsonio.dumps_lenient_bytes(line) + b"\n"


class TapeRecorder:
    """Records one engine's event stream from `start()` to `stop()`."""

    def __init__(
        self,
        engine: Engine,
        folder: Path,
        *,
        part_bytes: int,
        keep_runs: int,
        snapshot_bytes: int,
        buffer_events: int = BUFFER_EVENTS,
        masker: Masker | None = None,
    ) -> None:
        self.engine = engine
        self.folder = folder
        self.part_bytes = part_bytes
        self.keep_runs = keep_runs
        self.snapshot_bytes = snapshot_bytes
        self.buffer_events = buffer_events
        self.masker = masker or Masker(secret_values())
        self.run = new_run_name()
        self.part = 1
        self.path = part_path(folder, self.run, 1)
        self.events_written = 0
        self.dropped = 0
        self.error: OSError | None = None
        self._since = time.time() * 1000
        self._subscription: ThreadSubscription | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._file: Any = None
        self._part_size = 0
        self._part_fresh = True

    # -- the loop's side ---------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe and take the snapshot in one step on the loop, so no event falls between
        them; everything else happens on the writer thread."""
        self._subscription = self.engine.events.subscribe_thread(self.buffer_events)
        snapshot = self._snapshot()
        self._thread = threading.Thread(
            target=self._write_all, args=(snapshot,), name="motia-tape", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        """Write what is left and close the file; the engine should be stopped already."""
        if self._subscription is None or self._thread is None:
            return
        self._subscription.close()
        self._stopping.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._subscription = None

    @property
    def backlog(self) -> int:
        """Events published and not yet taken by the writer."""
        return self._subscription.pending() if self._subscription is not None else 0

    def _snapshot(self) -> dict[str, Any]:
        engine = self.engine
        streams = {
            name: {group: engine.stream_store.get_group(name, group)
                   for group in engine.stream_store.groups(name)}
            for name in engine.stream_definitions
        }
        traces = [
            engine.traces.get(t["traceId"])
            for t in engine.traces.list(limit=engine.settings.memory_window)
            if t["startedAt"] >= self._since
        ]
        return {
            "state": engine.state.groups(),
            "streams": streams,
            "steps": engine.steps_json(),
            "stats": engine.stats_json(),
            "dlq": list(engine.bus.dlq.values()),
            "logs": [r for r in engine.logs.recent if r.get("time", 0) >= self._since],
            "traces": [t for t in reversed(traces) if t is not None],
        }

    # -- the writer thread -------------------------------------------------------------------

    def _write_all(self, snapshot: dict[str, Any]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            prune(self.folder, self.keep_runs - 1)
            self._open_part()
            self._write(self._snapshot_line(snapshot), rotate=False)
            while not self._stopping.wait(WRITE_INTERVAL_S):
                self._write_events()
            self._write_events()
            assert self._subscription is not None
            trailing = self._subscription.take_dropped()
            if trailing:
                self.dropped += trailing
                self._write(event_line(time.time() * 1000, EVENTS_DROPPED, {"count": trailing}))
            self._write(event_line(time.time() * 1000, END,
                                   {"events": self.events_written, "dropped": self.dropped}))
        except OSError as exc:
            self.error = exc  # a full disk stops the tape, never the server
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _write_events(self) -> None:
        assert self._subscription is not None
        entries, log_times = self._subscription.take()
        if not entries:
            return
        lines = []
        written = len(log_times)
        dumps = orjson.dumps
        times = iter(log_times)
        for entry in entries:
            if isinstance(entry, bytes):
                lines.append(LOG_LINE % (dumps(next(times)), entry))
                continue
            time_ms, type_, data = entry
            if type_ == SPAN_RUN:
                written += 2
                lines.append(RUN_LINE % (dumps(time_ms), dumps(data[0]), data[1]))
                continue
            if type_ == EVENTS_DROPPED:
                assert type(data) is dict
                self.dropped += data["count"]
            else:
                written += 1
            lines.append(event_line(time_ms, type_, data))
        self.events_written += written
        self._write(self.masker.json(b"".join(lines)))

    def _snapshot_line(self, snapshot: dict[str, Any]) -> bytes:
        """The snapshot, cut to `snapshot_bytes`: state first, then stream items, then this
        run's first logs and traces; whatever did not fit is counted, never silently lost."""
        budget = self.snapshot_bytes
        omitted = {"stateKeys": 0, "streamItems": 0, "logs": 0, "traces": 0}
        kept: dict[str, Any] = {k: snapshot[k] for k in ("steps", "stats", "dlq")}
        budget -= len(orjson.dumps(kept, default=repr, option=_OPTIONS))

        def fits(value: Any) -> bool:
            nonlocal budget
            size = len(orjson.dumps(value, default=repr, option=_OPTIONS)) + 2
            if size > budget:
                return False
            budget -= size
            return True

        state: dict[str, dict[str, Any]] = {}
        for group, items in snapshot["state"].items():
            for key, value in items.items():
                if fits([key, value]):
                    state.setdefault(group, {})[key] = value
                else:
                    omitted["stateKeys"] += 1
        streams: dict[str, dict[str, list[Any]]] = {}
        for name, groups in snapshot["streams"].items():
            streams[name] = {}
            for group, items in groups.items():
                streams[name][group] = [item for item in items if fits(item)]
                omitted["streamItems"] += len(items) - len(streams[name][group])
        logs = [r for r in snapshot["logs"] if fits(r)]
        omitted["logs"] = len(snapshot["logs"]) - len(logs)
        traces = [t for t in snapshot["traces"] if fits(t)]
        omitted["traces"] = len(snapshot["traces"]) - len(traces)
        kept.update(state=state, streams=streams, logs=logs, traces=traces,
                    omitted={k: v for k, v in omitted.items() if v})
        return self.masker.json(event_line(time.time() * 1000, SNAPSHOT, kept))

    def _header(self) -> bytes:
        return event_line(time.time() * 1000, HEADER, {
            "tape": TAPE_VERSION,
            "run": self.run,
            "part": self.part,
            "project": str(self.engine.project_dir),
            "mode": self.engine.mode,
            "pid": os.getpid(),
        })

    def _open_part(self) -> None:
        self.path = part_path(self.folder, self.run, self.part)
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 (held for the run)
        self._part_size = 0
        self._write(self._header(), rotate=False)
        self._part_fresh = True

    def _write(self, data: bytes, *, rotate: bool = True) -> None:
        """Write whole lines, continuing in a new part whenever this one is full."""
        while rotate and self._part_size + len(data) > self.part_bytes:
            cut = data.rfind(b"\n", 0, self.part_bytes - self._part_size) + 1
            if cut == 0 and self._part_fresh:
                cut = data.find(b"\n") + 1 or len(data)  # a line bigger than a part: alone
            if cut:
                self._raw_write(data[:cut])
                data = data[cut:]
            if not data:
                return
            self._file.close()
            self.part += 1
            self._open_part()
        if data:
            self._raw_write(data)

    def _raw_write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written:]
        self._part_size += len(data)
        self._part_fresh = False


def tape_for(engine: Engine) -> TapeRecorder | None:
    """The recorder `motia dev` and `motia tui` run, or None where no tape is kept (`motia
    start`, a `:memory:` store, `tape = false`). Make it before the engine starts, so the
    engine's first logs and traces go in the snapshot, and `start()` it once it serves."""
    settings = engine.settings
    folder = settings.tape_dir(engine.project_dir)
    if engine.mode != "dev" or folder is None:
        return None
    return TapeRecorder(
        engine,
        folder,
        part_bytes=settings.tape_part_bytes,
        keep_runs=settings.tape_runs,
        snapshot_bytes=settings.tape_snapshot_bytes,
        masker=Masker([*secret_values(), *every_secret(engine.project_dir)]),
    )
