"""Process settings for a process that serves an engine, applied once start-up is done.

- The garbage collector: a running engine holds a few hundred thousand long-lived objects
  (loaded modules, the step table, the recent traces), and every full collection walks them
  all. What exists after start-up moves to the permanent generation and collections become
  rarer: runs free their objects by reference counting, so the collector has little to find.
  A full collection goes first where start-up may leave cycles behind (the workbench, with
  Textual), so none is frozen for good; the headless server leaves none (a new project: not
  one), and there the collection (20-25 ms of CPU on a 2-core machine) would only delay
  the first request, already accepted while it runs.
- The GIL's switch interval: the store's writer thread needs the GIL only briefly between
  long stretches inside SQLite, but each time the busy event loop holds it, the writer waits
  a whole interval (5 ms by default) and the loop then waits for the writer in turn. A
  shorter interval keeps both moving.
- Freed C memory (`trim_freed_memory`, for a long-lived process under a flood of log
  records): each record's JSON is made and freed for the store and the tape, and glibc keeps
  the freed blocks inside its heaps, so the process's RSS crept up by 20 MB in ten minutes
  with nothing live growing. `malloc_trim(0)` every few seconds, in a thread of its own (the
  call leaves the GIL), hands the free pages back; elsewhere than glibc nothing is done.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import threading
from collections.abc import Callable

YOUNG_THRESHOLD = 10_000
"""Allocations between young collections (Python's default is 700). Under the workbench's
flood of log records (`bench/tui.py --only memory`, 40 s runs, 2026-12-04) the longest young
collection took 8.8-9.0 ms of CPU at 10,000 against 14.4-20.4 ms at 20,000, for 1.0 s of
collector CPU against 0.7-0.9 s of some 75 s; 5,000 was no shorter (8.5 ms) and cost 1.2 s."""
SWITCH_INTERVAL_S = 0.0005
TRIM_EVERY_S = 5.0
"""How often freed C memory goes back: each trim took 0.4 to 4.7 ms of its thread's CPU
under the memory bench's flood and found 4 to 9 MB to return."""


def tune_process(collect: bool = True) -> None:
    """Call once, after start-up: later objects are collected as usual, only less often."""
    if collect:
        gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 50, 100)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (macOS, musl, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def trim_freed_memory(stop: threading.Event, every_s: float = TRIM_EVERY_S,
                      trim: Callable[[int], int] | None = None) -> bool:
    """Return freed C memory to the system every `every_s` seconds until `stop` is set;
    False (and nothing started) where there is no `malloc_trim`."""
    trim = trim or malloc_trim()
    if trim is None:
        return False

    def trimming() -> None:
        while not stop.wait(every_s):
            trim(0)

    threading.Thread(target=trimming, name="malloc-trim", daemon=True).start()
    return True
