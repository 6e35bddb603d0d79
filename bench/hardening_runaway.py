"""Runaway steps, measured on real `motia` processes on 127.0.0.1.

    python bench/hardening_runaway.py [--seconds 20] [--baseline-seconds 6] [--rounds 3]
                                      [--bound 100000] [--no-record]

1. Fan-out: a step that emits its own topic twice per run, under `motia start`. The queue
   depth (from `/__motia/stats`) and the process's RSS are sampled every second for
   `--seconds` with the bound `max_queued` = `--bound` (the default, 100,000; a lower one
   shows the plateau within seconds on a slow or shared machine); the baseline is the same step
   with the bound out of reach (`max_queued` = 10^9, as before the bound), run only for
   `--baseline-seconds` so it cannot take the machine's memory.
2. Shutdown: seconds from SIGTERM to exit of `motia dev --no-tui` with one request inside a
   plain `def` handler that never returns, against the same server idle (medians of rounds).
3. Start-up: seconds from starting `motia dev --no-tui` to the first answer of a ping step,
   with a step file that loops forever at import (`import_timeout_s` at its default, 10 s,
   and at 2 s), against the same project without it.
4. Hot reload: the slowest ping answer while a step file with `time.sleep(6)` at import is
   saved into the running server, against the slowest answer with no reload.

Figures go to the "## Hardening" section of bench/RESULTS.md, unless `--no-record`.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from results import write_section

SECTION = "## Hardening"
TOKEN = "bench-token"
MOTIA = [sys.executable, "-m", "motia_tui.cli"]

FAN = '''
config = {"type": "event", "name": "Fan", "subscribes": ["fan"], "emits": ["fan"]}

async def handler(data, ctx):
    await ctx.emit({"topic": "fan", "data": data})
    await ctx.emit({"topic": "fan", "data": data})
'''
PING = '''
config = {"type": "api", "name": "Ping", "path": "/ping", "method": "GET"}

async def handler(req, ctx):
    return {"status": 200, "body": {"pong": True}}
'''
FOREVER = '''
import time

config = {"type": "api", "name": "Forever", "path": "/forever", "method": "GET"}

def handler(req, ctx):
    while True:
        time.sleep(1)
'''
LOOPS = '''
config = {"type": "api", "name": "Loops", "path": "/loops", "method": "GET"}

while True:
    pass
'''
SLEEPS = '''
import time

config = {"type": "api", "name": "Sleeps", "path": "/sleeps", "method": "GET"}
time.sleep(6)

async def handler(req, ctx):
    return {"status": 200, "body": {}}
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def project(root: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = root / "steps" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


@contextmanager
def motia(command: str, project_dir: Path, env: dict[str, str] | None = None,
          ) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    args = [*MOTIA, command, "--dir", str(project_dir), "--port", str(port)]
    if command == "start":
        args += ["--introspect-token", TOKEN]
    else:
        args.append("--no-tui")
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def wait_answer(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"motia exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} never answered")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fan_out(root: Path, seconds: float, max_queued: int) -> list[tuple[float, int, float]]:
    """(second, queue depth, RSS MB) once a second while the fan-out runs."""
    project_dir = project(root, {"fan_step.py": FAN})
    env = {"MOTIA_MAX_QUEUED": str(max_queued), "MOTIA_STORE": ":memory:"}
    auth = {"authorization": f"Bearer {TOKEN}"}
    samples: list[tuple[float, int, float]] = []
    with motia("start", project_dir, env) as (process, url):
        wait_answer(f"{url}/__motia/health", process)
        httpx.post(f"{url}/__motia/emit", json={"topic": "fan", "data": {}}, headers=auth)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            time.sleep(1)
            try:
                edges = httpx.get(f"{url}/__motia/stats", headers=auth, timeout=10).json()
                depth = sum(edge["queued"] for edge in edges["edges"])
            except httpx.HTTPError:
                depth = -1
            samples.append((round(elapsed + 1), depth, rss_mb(process.pid)))
    return samples


def shutdown_seconds(root: Path, hung: bool) -> float:
    project_dir = project(root, {"forever_step.py": FOREVER, "ping_step.py": PING})
    with motia("dev", project_dir) as (process, url):
        wait_answer(f"{url}/ping", process)
        if hung:
            subprocess.Popen([sys.executable, "-c", f"import httpx; httpx.get('{url}/forever', "
                              "timeout=120)"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                stats = httpx.get(f"{url}/__motia/stats").json()["steps"]
                if stats.get("Forever", {}).get("running"):
                    break
                time.sleep(0.05)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        return time.monotonic() - signalled


def first_answer_seconds(root: Path, loop_at_import: bool, timeout_s: float | None) -> float:
    files = {"ping_step.py": PING, **({"loops_step.py": LOOPS} if loop_at_import else {})}
    env = {"MOTIA_IMPORT_TIMEOUT_S": str(timeout_s)} if timeout_s else {}
    project_dir = project(root, files)
    started = time.monotonic()
    with motia("dev", project_dir, env) as (process, url):
        wait_answer(f"{url}/ping", process)
        return time.monotonic() - started


def slowest_ping_s(root: Path, reload_slow_file: bool) -> float:
    project_dir = project(root, {"ping_step.py": PING})
    with motia("dev", project_dir) as (process, url), httpx.Client(timeout=30) as client:
        wait_answer(f"{url}/ping", process)
        time.sleep(1)
        if reload_slow_file:
            (project_dir / "steps" / "sleeps_step.py").write_text(SLEEPS, encoding="utf-8")
        slowest = 0.0
        until = time.monotonic() + 8
        while time.monotonic() < until:
            sent = time.monotonic()
            client.get(f"{url}/ping")
            slowest = max(slowest, time.monotonic() - sent)
            time.sleep(0.02)
        return slowest


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--baseline-seconds", type=float, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bound", type=int, default=100_000)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def fresh(name: str) -> Path:
            folder = root / f"{name}-{time.monotonic_ns()}"
            folder.mkdir()
            return folder

        bounded = fan_out(fresh("bounded"), args.seconds, args.bound)
        unbounded = fan_out(fresh("unbounded"), args.baseline_seconds, 10**9)
        shutdown_idle = [shutdown_seconds(fresh("idle"), False) for _ in range(args.rounds)]
        shutdown_hung = [shutdown_seconds(fresh("hung"), True) for _ in range(args.rounds)]
        start_plain = [first_answer_seconds(fresh("plain"), False, None)
                       for _ in range(args.rounds)]
        start_loop = [first_answer_seconds(fresh("loop"), True, None) for _ in range(args.rounds)]
        start_loop_2 = [first_answer_seconds(fresh("loop2"), True, 2) for _ in range(args.rounds)]
        ping_quiet = [slowest_ping_s(fresh("quiet"), False) for _ in range(args.rounds)]
        ping_reload = [slowest_ping_s(fresh("reload"), True) for _ in range(args.rounds)]
    at = {second: (depth, rss) for second, depth, rss in bounded}
    base_at = {second: (depth, rss) for second, depth, rss in unbounded}
    same = max(s for s in base_at if s in at)
    lines = [
        f"Measured with `python bench/hardening_runaway.py --seconds {args.seconds:g} "
        f"--baseline-seconds {args.baseline_seconds:g} --rounds {args.rounds} --bound "
        f"{args.bound}` on "
        f"{platform.machine()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"load average {load[0]:.2f} at the start (the machine was shared); medians of the "
        "rounds, their spread in brackets.",
        "",
        "| measure | result | baseline in the same run |",
        "| --- | --- | --- |",
    ]
    for second in sorted(at):
        if second in (1, 2, 5, 10, 15, 20, 30) or second == max(at):
            depth, rss = at[second]
            base = base_at.get(second)
            base_text = f"{base[0]:,} queued, {base[1]:.0f} MB" if base else ""
            lines.append(f"| fan-out after {second} s: queue depth, RSS (bound {args.bound:,}) | "
                         f"{depth:,} queued, {rss:.0f} MB | {base_text} (no bound) |")
    _base_depth, base_rss = base_at[same]
    depth, rss = at[same]
    lines += [
        f"| fan-out: RSS with the bound / without, at {same} s | {rss / base_rss:.2f} | |",
        f"| SIGTERM to exit, a `def` handler hung | {median(shutdown_hung):.2f} s "
        f"({spread(shutdown_hung)}) | {median(shutdown_idle):.2f} s idle "
        f"({spread(shutdown_idle)}) |",
        f"| first answer, a step looping at import (`import_timeout_s` 10 s) | "
        f"{median(start_loop):.2f} s ({spread(start_loop)}) | {median(start_plain):.2f} s "
        f"without it ({spread(start_plain)}) |",
        f"| first answer, a step looping at import (`import_timeout_s` 2 s) | "
        f"{median(start_loop_2):.2f} s ({spread(start_loop_2)}) | |",
        f"| slowest ping while a file sleeping 6 s at import reloads | "
        f"{median(ping_reload):.3f} s ({spread(ping_reload)}) | {median(ping_quiet):.3f} s with "
        f"no reload ({spread(ping_quiet)}) |",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_record:
        write_section(SECTION, "\n" + body)


if __name__ == "__main__":
    main()
