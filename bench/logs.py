"""The Logs pane's store with a million records: memory, collector pauses, filter times.

    python bench/logs.py [--records 1000000] [--no-write]

Records shaped as `context.logger` writes them (a run of 100 lines per trace, two extra
fields, a few steps and levels) go into the pane's `LogBuffer` in batches of 2,000, as the
workbench tick hands them over. Measured in this process:

1. Memory the million records hold (RSS before and after, and `tracemalloc`'s count), next
   to the same records held as dicts in a list (how the pane held them before).
2. The longest garbage collection while they were added (`gc.callbacks`), with the
   collector tuned as the workbench tunes it once started (`engine.tuning`), and the time
   taken to add them.
3. Time for each kind of filter to answer over all of them (the scan run to its end without
   yielding), and for free text the time to the first screen of matches. CPU time is given
   next to wall time: on a shared machine the wall time mostly measures the others' load.

Figures go to the "## Workbench logs" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import re
import statistics
import sys
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from results import RESULTS, write_section

from engine import tuning
from motia_tui.log_buffer import LogBuffer
from motia_tui.widgets.log_filter import parse_filter

SECTION = "## Workbench logs"
BATCH = 2_000
STEPS = ("Chatty", "Hello", "NotifyCustomer", "ProcessOrder")
FILTERS = {
    "level (level:warn)": "level:warn",
    "step (step:NotifyCustomer)": "step:NotifyCustomer",
    "flow (flow:orders)": "flow:orders",
    "trace (trace:<one trace's prefix>)": "trace:{trace}",
    "level and step (level:error step:Hello)": "level:error step:Hello",
    "free text, a rare word": "needle-7",
    "free text, a common word": "chatty",
    "regular expression (line=\\d+7$ on the message)": r"line \d+7$",
}


def rss_mb() -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def make_records(count: int, first: int = 0, seed: int = 20) -> list[dict[str, Any]]:
    """Records `first` to `first + count` of one deterministic run."""
    records = []
    rng = random.Random(seed + first // 100)
    trace = str(uuid.UUID(int=rng.getrandbits(128)))
    for n in range(first, first + count):
        if n % 100 == 0:
            trace = str(uuid.UUID(int=random.Random(seed + n // 100).getrandbits(128)))
        step = STEPS[(n // 100) % len(STEPS)]
        level = "error" if n % 997 == 0 else "warn" if n % 101 == 0 else "info"
        msg = f"chatty line {n % 100}" if n % 50_000 != 7 else f"needle-7 found {n}"
        records.append({
            "level": level, "time": 1_764_000_000_000 + n * 0.02, "msg": msg,
            "traceId": trace, "spanId": trace[:16], "flows": ["orders" if n % 3 else "bench"],
            "step": step, "line": n % 100, "request": n // 100,
        })
    return records


def batches(count: int) -> Any:
    for first in range(0, count, BATCH):
        yield make_records(min(BATCH, count - first), first)


class Pauses:
    """The collector's pauses, from `gc.callbacks`."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_cpu = 0.0
        self.count = 0
        self._began = self._began_cpu = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began, self._began_cpu = time.perf_counter(), time.process_time()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._began)
            self.longest_cpu = max(self.longest_cpu, time.process_time() - self._began_cpu)
            self.count += 1


def bench(count: int) -> dict[str, Any]:
    sample_trace = make_records(1, count // 2)[0]["traceId"][:8]

    gc.collect()
    tracemalloc.start()
    traced = tracemalloc.get_traced_memory()[0]
    held_as_dicts = [record for batch in batches(count) for record in batch]
    dicts_mb = (tracemalloc.get_traced_memory()[0] - traced) / 2**20
    del held_as_dicts
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0]
    buffer = LogBuffer(capacity=count)
    for batch in batches(count):
        buffer.append(batch)
    compact_mb = (tracemalloc.get_traced_memory()[0] - traced) / 2**20
    tracemalloc.stop()
    del buffer, batch
    gc.collect()

    tuning.tune_process()  # as the workbench does once it has started
    pauses = Pauses()
    gc.callbacks.append(pauses)
    rss_before = rss_mb()
    buffer = LogBuffer(capacity=count)
    added_s = added_cpu_s = 0.0
    for batch in batches(count):
        started, cpu = time.perf_counter(), time.process_time()
        buffer.append(batch)
        added_s += time.perf_counter() - started
        added_cpu_s += time.process_time() - cpu
    del batch
    gc.callbacks.remove(pauses)
    rss_after = rss_mb()
    gc.collect()

    filters: dict[str, dict[str, float]] = {}
    for label, text in FILTERS.items():
        rounds = []
        cpu_rounds = []
        first_screen = []
        matched = 0
        for _round in range(3):
            buffer.set_filter(parse_filter(text.format(trace=sample_trace)))
            started, cpu = time.perf_counter(), time.process_time()
            first = None
            while buffer.scanning:
                buffer.scan()
                if first is None and len(buffer) >= 36:
                    first = time.perf_counter() - started
            rounds.append(time.perf_counter() - started)
            cpu_rounds.append(time.process_time() - cpu)
            first_screen.append(first if first is not None else rounds[-1])
            matched = len(buffer)
        filters[label] = {"ms": statistics.median(rounds) * 1000,
                          "cpu_ms": statistics.median(cpu_rounds) * 1000,
                          "spread_ms": (max(rounds) - min(rounds)) * 1000,
                          "first_ms": statistics.median(first_screen) * 1000,
                          "matched": matched}
    return {"records": count, "dicts_mb": dicts_mb, "compact_mb": compact_mb,
            "rss_delta_mb": rss_after - rss_before, "gc_longest_ms": pauses.longest * 1000,
            "gc_longest_cpu_ms": pauses.longest_cpu * 1000,
            "gc_count": pauses.count, "add_s": added_s, "add_cpu_s": added_cpu_s,
            "filters": filters}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    result = bench(args.records)
    print(result)
    if args.no_write:
        return
    rows = [
        f"| {result['records']:,} records held as dicts in a list (before), traced | "
        f"{result['dicts_mb']:,.0f} MB | |",
        f"| the same in the compact store, traced / RSS growth | {result['compact_mb']:,.0f} MB"
        f" / {result['rss_delta_mb']:,.0f} MB | |",
        f"| adding them in batches of {BATCH:,}: wall / CPU | {result['add_s']:.2f} s / "
        f"{result['add_cpu_s']:.2f} s ({result['records'] / result['add_cpu_s']:,.0f} records "
        f"a CPU second) | |",
        f"| longest collection while adding ({result['gc_count']} collections): CPU / wall | "
        f"{result['gc_longest_cpu_ms']:.1f} ms / {result['gc_longest_ms']:.1f} ms | <= 20 ms |",
    ]
    for label, figures in result["filters"].items():
        target = "< 1 s" if "free" in label or "regular" in label else "< 100 ms"
        rows.append(
            f"| filter: {label}, {figures['matched']:,} match | {figures['cpu_ms']:,.0f} ms CPU,"
            f" {figures['ms']:,.0f} ms wall (spread {figures['spread_ms']:,.0f} ms; first screen"
            f" {figures['first_ms']:,.1f} ms) | {target} |"
        )
    table = "\n".join(rows)
    body = f"""
Run on {time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} cores
({platform.processor() or platform.machine()}), Python {platform.python_version()},
`python bench/logs.py --records {args.records}`, load average {load[0]:.1f} / {load[1]:.1f}
at the start (a shared machine: times are medians of 3 rounds).

| measure | figure | target |
| --- | --- | --- |
{table}
"""
    write_section(SECTION, body)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
