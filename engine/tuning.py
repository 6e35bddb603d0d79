"""Process settings for a process that serves an engine, applied once start-up is done.

- The garbage collector: a running engine holds a few hundred thousand long-lived objects
  (loaded modules, the step table, the recent traces), and every full collection walks them
  all. What exists after start-up moves to the permanent generation and collections become
  rarer: runs free their objects by reference counting, so the collector has little to find.
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


def tune_process() -> None:
    """Call once, after start-up: later objects are collected as usual, only less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 50, 100)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
