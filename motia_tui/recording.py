"""Recording the workbench's terminal as an asciicast v2 file (`motia tui --record`).

The terminal writer hands every batch it has written to the terminal to `CastRecorder.output`
(a tee on its own thread, so the draw path never waits on the disk); a second thread turns the
batches into event lines and appends them to the file. Each append is whole lines followed by
a flush, so a process killed with `kill -9` leaves a cast that every player reads up to its
last complete line. What the cast holds is exactly what the terminal was sent: values the
workbench never draws (masked headers) are never in it.

The format (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then one
`[seconds, code, data]` line per event: `o` output, `r` resize (`"COLSxROWS"`), `m` a marker
(its label names the pane switched to).
"""

from __future__ import annotations

import codecs
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import orjson

from engine.masking import MIN_SECRET_LENGTH

MAX_BACKLOG_BYTES = 8 << 20
"""Output not yet on disk beyond which the terminal writer waits for the file. A disk that
slow holds back the terminal's frames, which that writer already survives (it drops them and
repaints); nothing grows without bound."""
DEFAULT_TERM = "xterm-256color"


class RecordingError(Exception):
    """The cast file cannot be written."""


class CastRecorder:
    """An asciicast v2 writer fed from any thread, writing on its own."""

    def __init__(
        self,
        path: Path | str,
        *,
        title: str,
        term: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_backlog_bytes: int = MAX_BACKLOG_BYTES,
    ) -> None:
        self.path = Path(path)
        self.title = title
        self.term = term or os.environ.get("TERM") or DEFAULT_TERM
        self._clock = clock
        self._max_backlog = max_backlog_bytes
        self._cond = threading.Condition()
        self._events: deque[tuple[float, str, bytes | str]] = deque()
        self._backlog = 0
        self._started_at = 0.0
        self._hidden_since: float | None = None
        self._hidden_total = 0.0
        self._size: tuple[int, int] | None = None
        self._closing = False
        self._thread: threading.Thread | None = None
        self._fd = -1
        self._secrets: list[tuple[bytes, bytes]] = []
        self.error: OSError | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise RecordingError(f"cannot write {self.path}: {exc.strerror}") from None

    def start(self, width: int, height: int) -> None:
        """Write the header (once the terminal's size is known) and start the writing thread."""
        if self._thread is not None:
            return
        header = {
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": int(time.time()),
            "title": self.title,
            "env": {"TERM": self.term, "SHELL": os.environ.get("SHELL", "/bin/sh")},
        }
        self._started_at = self._clock()
        self._size = (width, height)
        self._append(orjson.dumps(header) + b"\n")
        self._thread = threading.Thread(target=self._run, daemon=True, name="motia-cast-writer")
        self._thread.start()

    def mask(self, secrets: list[str]) -> None:
        """Never write these values (a request environment's secrets) into the cast, should
        the screen show one: each becomes as many `*`, so the player's lines keep their
        layout. The workbench's own views mask them already; this covers the rest."""
        pairs = {s.encode(): b"*" * len(s) for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        merged = dict(self._secrets) | pairs
        self._secrets = sorted(merged.items(), key=lambda pair: len(pair[0]), reverse=True)

    def output(self, data: bytes, frame: bool = False) -> None:
        """What the terminal was just sent. While hidden, screen updates are left out (the
        screen is repainted whole when shown again); mode changes are kept."""
        if not data:
            return
        for secret, stars in self._secrets:
            if secret in data:
                data = data.replace(secret, stars)
        with self._cond:
            if self._closing or self._thread is None:
                return
            if self._hidden_since is not None and frame:
                return
            while self._backlog > self._max_backlog and not self._closing:
                self._cond.wait(0.5)
            self._events.append((self._now(), "o", data))
            self._backlog += len(data)
            self._cond.notify()

    def marker(self, label: str) -> None:
        """A named point to jump to in the player; none while hidden."""
        if self._hidden_since is None:
            self._event("m", label)

    def resize(self, width: int, height: int) -> None:
        """An `r` event when the size differs from the last one recorded."""
        with self._cond:
            if self._size == (width, height) or self._thread is None:
                return
            self._size = (width, height)
        self._event("r", f"{width}x{height}")

    def hide(self) -> None:
        """Stop recording screen updates; the time hidden is cut from the cast."""
        with self._cond:
            if self._hidden_since is None:
                self._hidden_since = self._clock()

    def show(self) -> None:
        with self._cond:
            if self._hidden_since is not None:
                self._hidden_total += self._clock() - self._hidden_since
                self._hidden_since = None

    def close(self, timeout: float = 5.0) -> None:
        """Write what is left and close the file."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _event(self, code: str, data: str) -> None:
        with self._cond:
            if self._closing or self._thread is None:
                return
            self._events.append((self._now(), code, data))
            self._cond.notify()

    def _now(self) -> float:
        """Seconds into the recording, hidden stretches left out (called under the lock, so
        times never go backwards in the file)."""
        hidden_at = self._hidden_since
        now = self._clock() if hidden_at is None else hidden_at
        return max(0.0, now - self._started_at - self._hidden_total)

    def _run(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            with self._cond:
                while not self._events and not self._closing:
                    self._cond.wait()
                events = list(self._events)
                self._events.clear()
                done = self._closing
            lines = []
            drained = 0
            for at, code, data in events:
                if isinstance(data, bytes):
                    drained += len(data)
                    text = decoder.decode(data)
                    if not text:
                        continue
                else:
                    text = data
                lines.append(orjson.dumps([round(at, 6), code, text]))
            if lines:
                self._append(b"\n".join(lines) + b"\n")
            with self._cond:
                self._backlog -= drained
                self._cond.notify_all()
            if done:
                return

    def _append(self, data: bytes) -> None:
        """One write of whole lines: a kill between two writes leaves only whole lines."""
        if self.error is not None:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self.error = exc
