"""Engine tape benchmarks: what recording costs the server, how big a tape grows, how fast
`motia replay` opens one.

    python bench/tape.py [--seconds 10] [--rounds 5] [--connections 64] [--tape-mb 50] [--no-write]

1. Requests per second of bench/engine.py's api step under `motia dev --no-tui` with the tape
   (the default) and without it (`MOTIA_TAPE=false`), beside the same bare Starlette route,
   in alternating rounds under the same wrk load: the ratios of the medians are the tape's
   cost and the engine's share of Starlette with the tape on.
2. The tape's size per 1,000 requests (its bytes after the snapshot over the api runs it
   holds): of that step, from the rounds with the tape, and of a step that also logs a line,
   from the tape of (3).
3. Replay of a tape of `--tape-mb` MB (50 by default; one part, recorded under wrk load with
   the logging step):
   time to open it (`ReplaySource.start`, what `motia replay` does before the first paint)
   and to show it in the workbench (Textual headless until every pane has loaded), then the
   cursor's worst moves: to the end (every event applied), one event back, and a jump back
   to the middle.

Figures go to the "## Engine tape" section of bench/RESULTS.md (other sections are kept).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import RESULTS, write_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTION = "## Engine tape"

_spec = importlib.util.spec_from_file_location("engine_bench", HERE / "engine.py")
assert _spec is not None and _spec.loader is not None
engine_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(engine_bench)
"""bench/engine.py's baseline and load helpers, so both benchmarks measure alike."""

LOGGING_STEP = '''
config = {"type": "api", "name": "Hello", "path": "/hello", "method": "GET", "emits": [],
          "flows": ["bench"]}


async def handler(req, context):
    context.logger.info("hello served", {"path": "/hello"})
    return {"status": 200, "body": {"message": "Hello World from Motia!"}}
'''

REPLAY_TIMING = '''
import asyncio, json, sys, time
from motia_tui.app import make_workbench
from motia_tui.replay import ReplaySource


async def main(path):
    source = ReplaySource(path)
    started = time.perf_counter()
    await source.start()
    opened = time.perf_counter() - started
    started = time.perf_counter()
    source.to_end()
    to_end = time.perf_counter() - started
    started = time.perf_counter()
    source.step(-1)
    back = time.perf_counter() - started
    started = time.perf_counter()
    source.seek(source.total // 3)
    middle = time.perf_counter() - started

    app = make_workbench(ReplaySource(path))
    started = time.perf_counter()
    async with app.run_test(size=(120, 36)):
        await asyncio.wait_for(app.ready.wait(), 60)
        shown = time.perf_counter() - started
    print(json.dumps({"events": source.total, "open_s": opened, "to_end_s": to_end,
                      "back_one_s": back, "jump_back_s": middle, "workbench_s": shown}))


asyncio.run(main(sys.argv[1]))
'''


def make_project(root: Path, step: str) -> Path:
    project = root / "tapebench"
    (project / "steps").mkdir(parents=True)
    (project / "steps" / "hello_step.py").write_text(step)
    return project


def sessions(project: Path) -> list[Path]:
    return sorted((project / ".motia" / "sessions").glob("*.jsonl"))


def serve_dev(motia: list[str], project: Path, port: int,
              env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [*motia, "dev", "--no-tui", "--dir", str(project), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env},
    )
    engine_bench.wait_port(port)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl+C, as a person stops `motia dev`: the tape gets its end line."""
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)


def tape_bytes_per_request(path: Path) -> tuple[int, int]:
    """Bytes after the header and snapshot, and the api runs they record."""
    size = 0
    runs = 0
    with path.open("rb") as file:
        for number, line in enumerate(file):
            if number < 2:
                continue
            size += len(line)
            if b'"type":"span.end"' in line[:60] and b'"kind":"api"' in line:
                runs += 1
    return size, runs


def bench_cost(motia: list[str], root: Path, seconds: int, connections: int,
               rounds: int) -> dict[str, float]:
    """Alternating rounds of Starlette, dev without a tape and dev with one."""
    project = make_project(root, engine_bench.API_STEP)
    bare = root / "bare.py"
    bare.write_text(engine_bench.BARE_STARLETTE)
    starlette: list[float] = []
    without: list[float] = []
    with_tape: list[float] = []
    sizes: list[float] = []
    for _ in range(rounds):
        port = engine_bench.free_port()
        starlette.append(engine_bench.serve_and_load(
            [sys.executable, str(bare), str(port)], port, seconds, connections))
        for tape, results in ((False, without), (True, with_tape)):
            shutil.rmtree(project / ".motia", ignore_errors=True)
            port = engine_bench.free_port()
            process = serve_dev(motia, project, port, {"MOTIA_TAPE": str(tape).lower()})
            try:
                engine_bench.wrk(port, 2, connections)
                results.append(engine_bench.wrk(port, seconds, connections))
            finally:
                stop(process)
            if tape:
                [path] = sessions(project)
                size, runs = tape_bytes_per_request(path)
                sizes.append(size / max(runs, 1) * 1000)
    return {
        "starlette_rps": statistics.median(starlette),
        "without_rps": statistics.median(without),
        "with_rps": statistics.median(with_tape),
        "tape_ratio": statistics.median(w / o for w, o in zip(with_tape, without, strict=True)),
        "starlette_ratio": statistics.median(
            w / s for w, s in zip(with_tape, starlette, strict=True)
        ),
        "bytes_per_1000": statistics.median(sizes),
    }


def record_tape(motia: list[str], root: Path, megabytes: int, connections: int) -> Path:
    """A one-part tape of at least `megabytes` MB, recorded under wrk load."""
    project = make_project(root / "big", LOGGING_STEP)
    port = engine_bench.free_port()
    process = serve_dev(motia, project, port,
                        {"MOTIA_TAPE_PART_BYTES": str((megabytes + 50) * 2**20)})
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            engine_bench.wrk(port, 2, connections)
            [path] = sessions(project)
            if path.stat().st_size >= megabytes * 2**20:
                break
    finally:
        stop(process)
    [path] = sessions(project)
    return path


def bench_replay(path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", REPLAY_TIMING, str(path)], cwd=REPO,
                         capture_output=True, text=True, check=True, timeout=600).stdout
    timing: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    timing["megabytes"] = path.stat().st_size / 2**20
    size, runs = tape_bytes_per_request(path)
    timing["bytes_per_1000"] = size / max(runs, 1) * 1000
    return timing


def section(cost: dict[str, float], replay: dict[str, float], command: str) -> str:
    opened = f"replay: open a {replay['megabytes']:.0f} MB tape ({replay['events']:,.0f} events)"
    return f"""
Measured with `{command}` on {platform.machine()} ({os.cpu_count()} cores), Python
{platform.python_version()}; bench/engine.py's api step under `motia dev --no-tui`, wrk on
127.0.0.1, alternating rounds (medians).

| measure | result | target |
| --- | --- | --- |
| bare Starlette route | {cost['starlette_rps']:,.0f} req/s | |
| `motia dev --no-tui`, `tape = false` | {cost['without_rps']:,.0f} req/s | |
| `motia dev --no-tui`, tape on (the default) | {cost['with_rps']:,.0f} req/s | |
| tape on / tape off | {cost['tape_ratio']:.2f} | close to 1 |
| tape on / Starlette | {cost['starlette_ratio']:.0%} | >= 60% |
| tape size per 1,000 requests of that step | {cost['bytes_per_1000'] / 2**20:.2f} MB | |
| tape size per 1,000 requests, step logging a line | {replay['bytes_per_1000'] / 2**20:.2f} MB | |
| {opened} | {replay['open_s']:.2f} s | < 2 s |
| replay: the workbench on it, every pane loaded | {replay['workbench_s']:.2f} s | |
| replay: cursor from the start to the end | {replay['to_end_s']:.2f} s | |
| replay: one event back from the end | {replay['back_one_s'] * 1000:.2f} ms | |
| replay: a jump back to a third of the way | {replay['jump_back_s']:.2f} s | |
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each kind")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tape-mb", type=int, default=50, help="size of the replayed tape")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    motia = [sys.executable, "-m", "motia_tui.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cost = bench_cost(motia, root, args.seconds, args.connections, args.rounds)
        replay = bench_replay(record_tape(motia, root, args.tape_mb, args.connections))
    command = "python bench/tape.py " + " ".join(sys.argv[1:])
    body = section(cost, replay, command.strip())
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
