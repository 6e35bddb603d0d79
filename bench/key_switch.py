"""The main thread's CPU for one tab switch, in process, with requests arriving between keys.

    python bench/key_switch.py [--trees BEFORE,AFTER] [--rounds 3] [--switches 40]
                               [--requests 100] [--profile DIR]

The workbench runs headless at 120x36 (`App.run_test`) over the bench's project, in the
same loop as its server, as `motia tui` runs it. Before each switch between Traces and Logs,
`--requests` requests are served (about a fifth of a second at 500 requests/s: what a
hidden pane misses between two key presses of `bench/tui.py`'s key part) and the feed's
tick hands them over; then the key is posted and the CPU the main thread spends from the
moment the app reads it until the frame that shows it is drawn is taken (`time.thread_time`
at `KeyOrder.key_read` and at `KeyOrder.frame_drawn`; the first four switches warm up), the
collector tuned once the workbench is ready as `motia tui` tunes it. No
request is served meanwhile, so what is measured is the switch alone: the hidden pane's
catch-up, the focus move, the layout and the paint of the new pane. Each round runs each
tree in its own process (`PYTHONPATH` set to that tree), alternating; the figure per tree is
the median switch of each round. `--profile DIR` writes each run's cProfile of its switches
(`DIR/ROUND-TREE.pstats`, TREE counting from 0).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def switches(project: Path, count: int, requests: int, profile: Path | None
                   ) -> list[float]:
    import httpx
    from textual import events

    from engine import tuning
    from engine.settings import Settings
    from motia_tui.app import make_workbench
    from motia_tui.key_order import KeyOrder
    from motia_tui.source import LocalSource

    began: list[float] = []
    drawn: list[float] = []
    key_read, frame_drawn = KeyOrder.key_read, KeyOrder.frame_drawn

    profiler = cProfile.Profile() if profile else None

    async def read(self: KeyOrder, event: events.Key) -> None:
        began.append(time.thread_time())
        if profiler is not None and len(began) > 4:
            profiler.enable()
        await key_read(self, event)

    def frame(self: KeyOrder) -> None:
        owed = self._frame_owed
        frame_drawn(self)
        if owed and not self._frame_owed:
            drawn.append(time.thread_time())
            if profiler is not None:
                profiler.disable()

    KeyOrder.key_read = read  # type: ignore[method-assign]
    KeyOrder.frame_drawn = frame  # type: ignore[method-assign]
    source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False)
    app = make_workbench(source)
    async with app.run_test(size=(120, 36)):
        while not app.ready.is_set():
            await asyncio.sleep(0.05)
        tuning.tune_process()  # as `motia tui` tunes it once ready (`motia_tui.run`)
        async with httpx.AsyncClient(base_url=source.server.url) as client:
            for n in range(count + 4):
                await asyncio.gather(*(client.get("/hello") for _ in range(requests)))
                await asyncio.sleep(0.2)  # the feed's tick hands the requests over
                key = "3" if n % 2 == 0 else "4"
                frames = len(drawn)
                app.post_message(events.Key(key, key))
                while len(drawn) == frames:
                    await asyncio.sleep(0.005)
        app.exit()
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    return [end - start for start, end in zip(began, drawn, strict=True)][4:]


def child(project: Path, count: int, requests: int, profile: Path | None) -> None:
    # This folder's engine.py is not the engine package.
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
    print(json.dumps(asyncio.run(switches(project, count, requests, profile))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", default=str(HERE.parent))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--switches", type=int, default=40)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--profile", type=Path,
                        help="cProfile the switches into DIR/ROUND-TREE.pstats")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.switches, args.requests, args.child_profile)
        return
    from tui import make_project

    trees = [Path(tree).resolve() for tree in args.trees.split(",")]
    medians: dict[Path, list[float]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for n, tree in enumerate(trees):
                project = make_project(Path(tmp) / f"{round_}-{n}")
                env = {**os.environ, "PYTHONPATH": str(tree)}
                profile = (["--child-profile", str(args.profile / f"{round_}-{n}.pstats")]
                           if args.profile else [])
                out = subprocess.run(
                    [sys.executable, str(Path(__file__)), "--child", str(project),
                     "--switches", str(args.switches), "--requests", str(args.requests),
                     *profile],
                    env=env, capture_output=True, text=True, check=True, cwd=project,
                ).stdout
                took = json.loads(out.strip().splitlines()[-1])
                medians[tree].append(statistics.median(took) * 1000)
                print(round_, tree, f"load {os.getloadavg()[0]:.1f}",
                      f"switch CPU p50 {medians[tree][-1]:.2f} ms", flush=True)
    for tree, figures in medians.items():
        print(tree, "switch CPU p50 by round:", [round(f, 2) for f in figures])


if __name__ == "__main__":
    main()
