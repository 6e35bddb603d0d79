"""What one event of the three-step chain costs the engine, in instructions.

    python bench/chain_cost.py [--cpu] [--count 20000]

Runs itself twice under `valgrind --tool=callgrind --separate-threads=yes`, each time sending
200 events through bench/engine.py's chain to warm up and then 200 and 700 more (each a manual
emit and three deliveries, each a traced run whose unit is committed), and prints the
difference per event for the loop thread and the other threads (the store's writer).
Instruction counts do not move with the machine's load where the work does not depend on the
clock; here batches do (the store's flush delay, a worker's turn on the loop), so under
valgrind, which runs the code about 50 times slower, the engine's time constants are scaled
by `SLOWDOWN` to keep its batches as large as at full speed. On a loaded machine the code runs
slower than that under valgrind and the counts move by several percent from run to run;
`--slowdown 400` stretches the delays so far that batches are cut by their counts alone (larger
than at full speed, the same in every run), for comparing two trees.

`--cpu` runs `--count` events at full speed instead (no valgrind) and prints the CPU per step
run of the loop thread and of the others, with the share of the loop's CPU spent in the
garbage collector.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from callgrind import instructions_per_unit

HERE = Path(__file__).resolve().parent
WARM, FEW, MANY, BATCH = 200, 200, 700, 500
SLOWDOWN = 50


def _scale_time(factor: float) -> None:
    """The engine's batching delays, stretched as valgrind stretches the code."""
    import engine.runs
    import engine.stores.sqlite.store as store
    import engine.tracing
    import engine.workers

    engine.workers.TURN_S *= factor
    engine.workers.STALL_S *= factor
    store.FLUSH_DELAY_S *= factor
    store.HISTORY_DELAY_S *= factor
    engine.tracing.RUNNING_WRITE_DELAY_S *= factor
    engine.runs.Deadlines.TICK_S *= factor


async def _send(engine: Any, events: int) -> None:
    """As bench/engine.py sends them: in batches, then until every run and write is done."""
    for offset in range(0, events, BATCH):
        for index in range(offset, min(offset + BATCH, events)):
            engine.emit("bench.start", {"n": index})
        await asyncio.sleep(0)
    await engine.idle(timeout=600)
    await engine.store.settled()


def _bench_module() -> Any:
    """bench/engine.py, which writes the chain's steps (its name is the engine package's)."""
    sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location("engine_bench", HERE / "engine.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Collections:
    """The loop thread's CPU inside the garbage collector."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.cpu += time.thread_time() - self._started


async def _chain(events: int, cpu: bool, slowdown: float = SLOWDOWN) -> None:
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    from engine import Engine, Settings, tuning

    if not cpu:
        _scale_time(slowdown)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "chainbench"
        _bench_module()._write_chain(project)
        engine = Engine(project, Settings(), mode="start")
        await engine.start()
        tuning.tune_process()
        await _send(engine, WARM)
        collections = _Collections()
        if cpu:
            gc.callbacks.append(collections)
        started, loop_started = time.process_time(), time.thread_time()
        await _send(engine, events)
        spent, loop_spent = time.process_time() - started, time.thread_time() - loop_started
        if cpu:
            gc.callbacks.remove(collections)
        await engine.stop()
    if cpu:
        runs = events * 3
        print(
            f"CPU per step run: loop thread {loop_spent / runs * 1e6:.1f} us, other threads "
            f"{(spent - loop_spent) / runs * 1e6:.1f} us; the collector "
            f"{collections.cpu / loop_spent:.1%} of the loop's; load {os.getloadavg()[0]:.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", action="store_true", help="CPU per step run at full speed")
    parser.add_argument("--count", type=int, default=20_000, help="events measured by --cpu")
    parser.add_argument("--slowdown", type=float, default=SLOWDOWN,
                        help="how far the engine's delays are stretched under valgrind")
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.events is not None or args.cpu:  # the run under valgrind, or at full speed
        import uvloop

        events = args.count if args.cpu else args.events
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_chain(events, args.cpu, args.slowdown))
        return
    per = instructions_per_unit(__file__, ["--slowdown", str(args.slowdown)], "--events", FEW,
                                MANY)
    loop = per.pop("01", 0.0)
    print(f"instructions per chain event: loop thread {loop:,.0f}, other threads "
          f"{sum(per.values()):,.0f}")


if __name__ == "__main__":
    main()
