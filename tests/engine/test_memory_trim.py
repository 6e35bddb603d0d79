"""Freed C memory goes back to the system every few seconds where glibc can do it, and
nothing happens elsewhere."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from engine import tuning

FRAGMENTED = '''
import ctypes, sys
from engine import tuning

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

blocks = [bytes(2000) for _ in range(40_000)]  # 80 MB of malloc'd blocks, below mmap's
del blocks[:-1]  # all freed but the last, which keeps glibc from shrinking its heap itself
before = rss_mb()
tuning.malloc_trim()(0)
print(before - rss_mb())
'''


@pytest.mark.skipif(tuning.malloc_trim() is None, reason="no glibc malloc_trim here")
def test_a_trim_hands_freed_blocks_back() -> None:
    returned = subprocess.run([sys.executable, "-c", FRAGMENTED], capture_output=True,
                              text=True, check=True).stdout
    assert float(returned) > 50


def test_trims_on_its_period_until_stopped() -> None:
    calls: list[int] = []
    stop = threading.Event()
    assert tuning.trim_freed_memory(stop, every_s=0.01, trim=lambda pad: calls.append(pad) or 0)
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    time.sleep(0.05)
    settled = len(calls)
    time.sleep(0.05)
    assert settled >= 3 and len(calls) == settled and set(calls) == {0}


def test_nothing_runs_without_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert tuning.malloc_trim() is None
    threads = threading.active_count()
    assert not tuning.trim_freed_memory(threading.Event())
    assert threading.active_count() == threads
