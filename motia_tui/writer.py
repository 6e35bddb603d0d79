"""Terminal output that can never stall the event loop.

Textual's stock writer thread hands frames over through a 30-item queue whose `put` blocks
the caller when the terminal stops reading (a frozen SSH link, a suspended `tmux` client).
The caller is the event loop that also runs the engine and uvicorn, so one frozen terminal
would time out every HTTP request. Here the loop only ever appends to a buffer; a thread does
the blocking writes. While the thread is stuck, queued frames are thrown away (each one is a
diff against the previous, so a dropped frame leaves the screen stale), and once the terminal
drains the app is asked for one whole-screen repaint. Control sequences (modes, clipboard,
the restore sequence at exit) are never dropped. What reaches the terminal can be teed, in
order, to a recorder (`motia_tui.recording`), from the writer thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.app import ScreenStackError

from motia_tui.textual_hooks import HookedLinuxDriver

if TYPE_CHECKING:
    from textual.app import App

    from motia_tui.recording import CastRecorder

MAX_QUEUED_FRAMES = 4
"""Frames that may wait for the writer thread; one more and the backlog is dropped. A slow
link keeps getting the (small) diffs; a stalled one is repainted whole once it reads."""
MAX_QUEUED_BYTES = 256 << 10
STOP_TIMEOUT_S = 2.0
"""How long quitting waits for the terminal to take the restore sequence."""

Tee = Callable[[bytes, bool], None]
"""Called with each piece written to the terminal and whether it belonged to a frame."""


@dataclass(frozen=True, slots=True)
class TerminalPorts:
    """Where the workbench reads keys and draws: the process's own terminal, or a
    pseudo-terminal a demo runs it in."""

    input_fd: int
    output_fd: int

    @classmethod
    def standard(cls) -> TerminalPorts:
        """The process's own standard input and output, whatever `sys.stdin` and
        `sys.stdout` have been replaced with."""
        if sys.__stdin__ is None or sys.__stdout__ is None:
            raise OSError("the workbench needs a standard input and output")
        return cls(sys.__stdin__.fileno(), sys.__stdout__.fileno())


class FrameWriter(threading.Thread):
    """Writes batches to a file descriptor; drops frames, never control batches."""

    def __init__(
        self,
        fd: int,
        on_drained: Callable[[], None],
        max_frames: int = MAX_QUEUED_FRAMES,
        max_bytes: int = MAX_QUEUED_BYTES,
        tee: Tee | None = None,
    ) -> None:
        super().__init__(daemon=True, name="motia-terminal-writer")
        self._fd = fd
        self._on_drained = on_drained
        self._tee = tee
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._cond = threading.Condition()
        self._pending: list[str] = []
        self._batches: deque[tuple[bool, bytes]] = deque()
        self._queued_frames = 0
        self._queued_bytes = 0
        self._lost = False
        self._stopping = False
        self._broken = False
        self.frames_dropped = 0

    def write(self, text: str) -> None:
        with self._cond:
            self._pending.append(text)

    def seal(self, frame: bool) -> None:
        """End the current batch; a frame may be dropped, anything else is kept."""
        with self._cond:
            if not self._pending:
                return
            data = "".join(self._pending).encode("utf-8", "replace")
            self._pending.clear()
            if self._broken:
                return
            if frame:
                if self._lost:
                    self.frames_dropped += 1
                    return
                if (
                    self._queued_frames >= self._max_frames
                    or self._queued_bytes + len(data) > self._max_bytes
                ):
                    self._drop_frames()
                    self.frames_dropped += 1
                    return
                self._queued_frames += 1
            self._queued_bytes += len(data)
            self._batches.append((frame, data))
            self._cond.notify()

    def _drop_frames(self) -> None:
        """Forget queued frames; once the thread has nothing left it asks for a repaint."""
        kept: deque[tuple[bool, bytes]] = deque(
            (frame, data) for frame, data in self._batches if not frame
        )
        self.frames_dropped += len(self._batches) - len(kept)
        self._batches = kept
        self._queued_frames = 0
        self._queued_bytes = sum(len(data) for _frame, data in kept)
        self._lost = True
        self._cond.notify()

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._batches and not self._stopping and not self._lost:
                    self._cond.wait()
                if self._batches:
                    frame, data = self._batches.popleft()
                    self._queued_frames -= int(frame)
                    self._queued_bytes -= len(data)
                elif self._stopping:
                    return
                else:
                    self._lost = False
                    data = b""
            if data:
                self._write_all(data, frame)
            elif not self._broken:
                self._on_drained()

    def _write_all(self, data: bytes, frame: bool) -> None:
        view = memoryview(data)
        tee = self._tee
        while view and not self._broken:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                select.select([], [self._fd], [], 1.0)
                continue
            except InterruptedError:
                continue
            except OSError:
                with self._cond:
                    self._broken = True
                    self._batches.clear()
                return
            if tee is not None:
                tee(data if written == len(data) else bytes(view[:written]), frame)
            view = view[written:]

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Flush what is left, giving up after `timeout` when the terminal is gone."""
        self.seal(frame=False)
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self.is_alive():
            self.join(timeout)


class WorkbenchDriver(HookedLinuxDriver):
    """Textual's Linux driver with its output routed through a `FrameWriter`, on the app's
    `terminal` (stdin and stdout unless it says otherwise), teed to its `recorder` if any."""

    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self._app_loop: asyncio.AbstractEventLoop | None = None
        self._in_frame = False
        ports: TerminalPorts = getattr(app, "terminal", None) or TerminalPorts.standard()
        self.fileno = ports.input_fd
        self.input_tty = os.isatty(ports.input_fd)
        self.output_fd = ports.output_fd
        self.recorder: CastRecorder | None = getattr(app, "recorder", None)
        tee = self.recorder.output if self.recorder is not None else None
        self.writer = FrameWriter(ports.output_fd, self._drained, tee=tee)

    def write(self, data: str) -> None:
        self.writer.write(data)

    def flush(self) -> None:
        self.writer.seal(frame=self._in_frame)

    @contextlib.contextmanager
    def frame(self) -> Iterator[None]:
        """Mark what the app writes inside as one droppable screen update."""
        self.flush()
        self._in_frame = True
        try:
            yield
        finally:
            self.flush()
            self._in_frame = False

    def start_application_mode(self) -> None:
        self._app_loop = asyncio.get_running_loop()
        if self.recorder is not None:
            self.recorder.start(*self._get_terminal_size())
        if not self.writer.is_alive():
            self.writer.start()
        super().start_application_mode()

    def close(self) -> None:
        super().close()
        self.writer.stop()

    def _drained(self) -> None:
        """Called on the writer thread once a backlog is gone: repaint the whole screen."""
        loop = self._app_loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._repaint)

    def _repaint(self) -> None:
        with contextlib.suppress(ScreenStackError):
            self._app.screen.refresh()
