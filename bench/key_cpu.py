"""Key presses at 500 requests/s, the main thread's CPU per key, two code trees alternating.

    python bench/key_cpu.py [--trees BEFORE,AFTER] [--rounds 3] [--presses 30]
                            [--profile DIR]

Each round runs the workbench once per tree (`PYTHONPATH` set to that tree, so `motia_tui`
and `engine` come from it), under `key_probe.py`, with `paced_load.py` sending 500
requests/s: `--presses` tab switches between Traces and Logs a tenth of a second apart, as
`bench/tui.py`'s key part presses them. For each tree: the p50 of the main thread's CPU
from a key's arrival to its frame (what a shared machine cannot inflate much), the p50 of
the wall time from its arrival to its frame handed to the writer, and the p50 of the wall
time from writing the key to the new tab's status line on the terminal. Trees
default to the working tree alone. `--profile DIR` writes each tree's summed cProfile of
the keys (`DIR/TREE-NAME.pstats`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from paced_load import PacedLoad
from tui import (
    KEYS_LOAD_RPS,
    free_port,
    make_project,
    time_tab_switches,
    wait_serving,
    workbench,
)

HERE = Path(__file__).resolve().parent


def run(tree: Path, root: Path, presses: int, profile: Path | None, renders: bool
        ) -> dict[str, float]:
    project = make_project(root)
    port = free_port()
    out = root / "keys.json"
    options = (("--profile", str(profile)) if profile else ()) + (
        ("--renders",) if renders else ())
    with workbench("motia", project, port, probe=out, probe_options=options,
                   probe_script="key_probe.py", code=tree) as (_process, terminal, _started):
        wait_serving(port)
        terminal.wait_for(b"Flows", 0, timeout=30)
        loader = PacedLoad(port, "/hello", KEYS_LOAD_RPS, presses * 0.4 + 10)
        loader.start()
        time.sleep(2.0)
        walls = time_tab_switches(terminal, presses)
        recorded = len(walls)
        load = loader.join_result()
    probed = json.loads(out.read_text())
    cpus = [key["cpu_ms"] for key in probed["keys"]][-recorded:]
    if renders:
        print("lines rendered afresh, CPU ms:", probed["rendered"])
        print("CPU ms in:", probed["phases"])
    frames = [key["wall_ms"] for key in probed["keys"]][-recorded:]
    return {"cpu_p50_ms": statistics.median(cpus), "wall_p50_ms": statistics.median(walls) * 1e3,
            "frame_wall_p50_ms": statistics.median(frames),
            "cpu_mean_ms": statistics.fmean(cpus), "keys": len(cpus), "rps": load["rps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", default=str(HERE.parent))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--renders", action="store_true",
                        help="count lines rendered afresh, and their CPU, by widget kind")
    args = parser.parse_args()
    trees = [Path(tree).resolve() for tree in args.trees.split(",")]
    results: dict[Path, list[dict[str, float]]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for n, tree in enumerate(trees):
                profile = (args.profile / f"{n}-{tree.name}-{round_}.pstats"
                           if args.profile else None)
                result = run(tree, Path(tmp) / f"{round_}-{n}", args.presses, profile,
                             args.renders)
                results[tree].append(result)
                print(round_, tree, os.getloadavg()[0], result, flush=True)
    for tree, rounds in results.items():
        print(tree, "cpu p50 by round", [r["cpu_p50_ms"] for r in rounds],
              "frame wall p50 by round", [round(r["frame_wall_p50_ms"], 1) for r in rounds],
              "wall p50 by round", [round(r["wall_p50_ms"], 1) for r in rounds])


if __name__ == "__main__":
    main()
