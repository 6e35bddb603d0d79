"""Run `motia` with the collector's pauses recorded, for the workbench memory bench.

    python bench/gc_probe.py OUT.json tui --dir PROJECT ...

The longest collection (wall and CPU time between `gc.callbacks`' start and stop), the
count by generation, and the process's peak RSS go to OUT.json every second and at exit.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

del sys.path[0]  # this folder: its engine.py is not the engine package
from motia_tui.cli import main  # noqa: E402

OUT = Path(sys.argv.pop(1))
STATE: dict[str, Any] = {"longest_ms": 0.0, "longest_cpu_ms": 0.0, "longest_generation": -1,
                         "collections": [0, 0, 0]}
_began = [0.0, 0.0]


def probe(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _began[0], _began[1] = time.perf_counter(), time.thread_time()
        return
    pause = (time.perf_counter() - _began[0]) * 1000
    cpu = (time.thread_time() - _began[1]) * 1000
    STATE["collections"][info["generation"]] += 1
    if pause > STATE["longest_ms"]:
        STATE["longest_ms"], STATE["longest_generation"] = pause, info["generation"]
    STATE["longest_cpu_ms"] = max(STATE["longest_cpu_ms"], cpu)


def dump() -> None:
    STATE["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    OUT.write_text(json.dumps(STATE))


def dumping() -> None:
    while True:
        time.sleep(1.0)
        dump()


if __name__ == "__main__":
    gc.callbacks.append(probe)
    threading.Thread(target=dumping, daemon=True).start()
    try:
        code = main(sys.argv[1:])
    finally:
        dump()
    sys.exit(code)
