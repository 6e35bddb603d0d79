"""How `motia dev --no-tui` and the workbench stop on a signal: drain, within a bound.

The first SIGINT or SIGTERM asks the process to stop (no new work; running handlers get the
time uvicorn and the engine allow them); `shutdown_grace_s` later the process exits with
status 1 whatever is still running, and a second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from typing import TextIO


class ShutdownGuard:
    """Ctrl+C or SIGTERM stops the server; the stop may take `grace_s` at most, whatever the
    handlers do, and a second signal exits at once.

    Plain `signal.signal` handlers, not the loop's: they run between two bytecodes of whatever
    the main thread is doing, so a handler that blocks the loop cannot keep the process from
    hearing the signal. The grace is kept by a thread of its own for the same reason."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: Callable[[], None], grace_s: float,
                 err: TextIO, before_exit: Callable[[], None] | None = None) -> None:
        self._loop = loop
        self._before_exit = before_exit
        self._stop = stop
        self._grace_s = grace_s
        self._err = err
        self._signalled = False
        self._finished = threading.Event()

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._signalled:
            self._exit(128 + signum, f"motia: {signal.Signals(signum).name} again: exiting now")
        self._signalled = True
        threading.Thread(target=self._keep_grace, name="motia-shutdown-grace",
                         daemon=True).start()
        self._loop.call_soon_threadsafe(self._stop)

    def _keep_grace(self) -> None:
        if not self._finished.wait(self._grace_s):
            self._exit(1, f"motia: shutdown did not finish within {self._grace_s:g}s "
                          "(setting shutdown_grace_s): exiting with handlers still running")

    def _exit(self, status: int, line: str) -> None:
        """Leave now: `before_exit` (the workbench gives the terminal back) first, so the
        line is read where the user looks."""
        if self._before_exit is not None:
            with contextlib.suppress(Exception):
                self._before_exit()
        self._say(line)
        os._exit(status)

    def finished(self) -> None:
        self._finished.set()

    def _say(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._err.write(line + "\n")
            self._err.flush()
