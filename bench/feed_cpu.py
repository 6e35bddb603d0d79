"""The workbench's CPU a request under wrk, by thread and the collector's, two trees alternating.

    python bench/feed_cpu.py [--trees BEFORE,AFTER] [--rounds 3] [--seconds 5] [--functions]

Each round runs `motia tui` on the Logs pane once per tree (`PYTHONPATH` set to that tree, so
`motia_tui` and `engine` come from it) under `gc_probe.py`, loaded as `bench/tui.py`'s
throughput part loads it (`wrk -c 32` on `/hello`, 2 s to warm up, then `--seconds`), and
reads for the measured run: the process's CPU a request, its loop (main) thread's, the
collector's (`gc.callbacks`' thread time, all threads) and its collections by generation.
CPU a request moves less with the machine's load than requests/s do; each tree's medians
are printed, then every run. `--functions` runs the workbench under `cost_probe.py` instead
(no collector figures then): the loop's CPU a request inside each of the feed's functions
(the tick, the Logs pane's batches and sealing, the screen's redraws).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from tui import cpu_s, free_port, make_project, serving_on_logs, workbench, wrk

PROBE_WRITES_S = 1.2
"""A little longer than `gc_probe.py`'s interval between two writes of its figures."""


def run(tree: Path, root: Path, seconds: float, functions: bool) -> dict[str, float]:
    project = make_project(root)
    port = free_port()
    probe = root / "probe.json"
    script = "cost_probe.py" if functions else "gc_probe.py"
    with workbench("motia", project, port, probe=probe, code=tree,
                   probe_script=script) as (process, terminal, _):
        serving_on_logs(port, terminal)
        wrk(port, "/hello", 2, 32)
        time.sleep(PROBE_WRITES_S)
        before = json.loads(probe.read_text())
        used, loop = cpu_s(process.pid), cpu_s(process.pid, process.pid)
        load = wrk(port, "/hello", seconds, 32)
        used, loop = cpu_s(process.pid) - used, cpu_s(process.pid, process.pid) - loop
        time.sleep(PROBE_WRITES_S)
        after = json.loads(probe.read_text())
    requests = load["requests"]
    figures = {"rps": load["rps"], "cpu_us": used / requests * 1e6,
               "loop_us": loop / requests * 1e6}
    if functions:
        for name, (spent, _calls) in after["totals"].items():
            figures[name] = (spent - before["totals"][name][0]) / requests * 1e6
    else:
        young, middle, full = (a - b for a, b in zip(after["collections"],
                                                     before["collections"], strict=True))
        figures |= {"gc_us": (after["total_cpu_ms"] - before["total_cpu_ms"]) * 1e3 / requests,
                    "young": young, "middle": middle, "full": full}
    return figures | {"load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", default=".", help="comma-separated code trees")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--functions", action="store_true",
                        help="CPU a request by feed function (cost_probe.py), not the collector's")
    args = parser.parse_args()
    trees = [Path(tree).resolve() for tree in args.trees.split(",")]
    runs: dict[Path, list[dict[str, float]]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(args.rounds):
            for tree in trees:
                root = Path(tmp) / f"{number}-{tree.name}"
                root.mkdir()
                runs[tree].append(run(tree, root, args.seconds, args.functions))
                print(tree, {k: round(v, 2) for k, v in runs[tree][-1].items()}, flush=True)
    for tree, measured in runs.items():
        print(tree, "medians:", {key: round(statistics.median(r[key] for r in measured), 2)
                                 for key in measured[0]})


if __name__ == "__main__":
    main()
