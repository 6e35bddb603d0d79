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
"""

from __future__ import annotations

import gc
import sys

YOUNG_THRESHOLD = 20_000
"""Allocations between young collections (Python's default is 700)."""
SWITCH_INTERVAL_S = 0.0005


def tune_process(collect: bool = True) -> None:
    """Call once, after start-up: later objects are collected as usual, only less often."""
    if collect:
        gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 50, 100)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
