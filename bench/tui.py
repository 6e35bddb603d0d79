"""Workbench benchmarks: what the terminal UI costs the server that shares its event loop.

    python bench/tui.py [--seconds 10] [--rounds 5] [--memory-seconds 90] [--full] [--no-write]
                        [--recording-only]

Every measure runs the real `motia` command in its own process, the workbench on a
pseudo-terminal of 120x36 whose output this script reads continuously (a healthy terminal);
load comes from wrk on 127.0.0.1.

1. Requests per second of an api step (one log line per request) under `motia dev --no-tui`
   and under `motia tui` showing the Logs pane, same wrk load, in alternating rounds: the
   ratio of the medians is the cost of the workbench.
2. Key-press redraw latency while requests come at 500 a second (`paced_load.py`, which
   sends them on schedule however slowly they are answered, and reports the rate the server
   sustained when it could not keep up): the time from
   writing a tab key to the terminal until the new tab's status line arrives on it. Then, at
   the same load, bursts of 20 pane keys written in one go (as SSH or a paste delivers
   them): the time until the last key's pane and footer are on the terminal, and whether
   that end state is the one the same keys typed slowly reach.
   Then request latency near that load (wrk, 12 connections 22 ms apart), first with the
   terminal read, then with nobody reading it (a frozen SSH link): wrk's p50, p99 and
   slowest request.
3. Time to first paint (the tab bar on the terminal) and to serving (HTTP answers).
4. Memory (RSS) under sustained load with a step that logs 1,000 lines per request, until
   the Logs pane's status line counts a million records (`--memory-records`), then
   `--memory-seconds` more; the slope is taken over the time after the pane is full, and
   the workbench runs under `bench/gc_probe.py`, which records its longest collection.
   `--full` runs the second phase for 10 minutes.

5. The cost of `--record`: requests per second of `motia tui` on Logs without and with
   `--record FILE.cast`, same load, in alternating rounds (the ratio of the medians), and the
   key-press redraw latency of (2) without and with it. `--recording-only` runs just this.
6. A burst: a step that logs 5,000 records a run, called 20 times in a row with the Logs
   pane shown; the records the pane's status line counts afterwards (all of them).

Figures go to the "## Workbench" and "## Workbench recording" sections of bench/RESULTS.md
(other sections are kept).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import pty
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paced_load import PacedLoad
from results import RESULTS, write_section

HERE = Path(__file__).resolve().parent
SECTION = "## Workbench"
RECORDING_SECTION = "## Workbench recording"
COLUMNS, ROWS = 120, 36
LOGS_PANE_CAPACITY = 1_000_000
CHATTY_LINES = 100

HELLO_STEP = '''
config = {"type": "api", "name": "Hello", "path": "/hello", "method": "GET", "emits": [],
          "flows": ["bench"]}


async def handler(req, context):
    context.logger.info("hello served", {"path": "/hello"})
    return {"status": 200, "body": {"message": "Hello World from Motia!"}}
'''

BURST_RUNS, BURST_LINES = 20, 5_000
BURST_STEP = f'''
config = {{"type": "api", "name": "Burst", "path": "/burst", "method": "GET", "emits": [],
          "flows": ["bench"]}}


async def handler(req, context):
    for line in range({BURST_LINES}):
        context.logger.info("burst line", {{"line": line}})
    return {{"status": 200, "body": {{}}}}
'''

CHATTY_STEP = f'''
config = {{"type": "api", "name": "Chatty", "path": "/chatty", "method": "GET", "emits": [],
          "flows": ["bench"]}}
COUNT = [0]


async def handler(req, context):
    COUNT[0] += 1
    for line in range({CHATTY_LINES}):
        context.logger.info("chatty line", {{"line": line, "request": COUNT[0]}})
    await context.state.set("bench", str(COUNT[0] % 100), {{"n": COUNT[0]}})
    return {{"status": 200, "body": {{"n": COUNT[0]}}}}
'''

FLOOD_LINES = 1_000
RSS_SERIES_S = 10
"""The memory part reports the RSS it samples every second at this spacing."""
MEMORY_CAP_S = 1_200.0
"""The memory part gives up filling the pane after this long (a machine too loaded)."""
FLOOD_STEP = f'''
config = {{"type": "api", "name": "Flood", "path": "/flood", "method": "GET", "emits": [],
          "flows": ["bench"]}}
COUNT = [0]


async def handler(req, context):
    COUNT[0] += 1
    for line in range({FLOOD_LINES}):
        context.logger.info("flood line", {{"line": line, "request": COUNT[0]}})
    return {{"status": 200, "body": {{"n": COUNT[0]}}}}
'''

PACED = """
-- Each connection waits this long between requests: about 500 requests/s with 12 of them.
function delay()
    return 22
end
"""

KEYS_LOAD_RPS = 500
"""The load key presses are measured under (`PacedLoad`: this rate whatever the latency)."""
TAB_MARKS = {b"3": b"Enter opens, / filters", b"4": "records  ·".encode()}
FOOTER_MARKS = {b"3": b"Open trace", b"4": b"Follow tail"}
"""A key only that pane's footer shows: the focus moved with the pane."""
BURST_KEYS = 20
BURSTS = 5
BURST_SECONDS = 4.0
"""About how long one burst takes to measure (typed slowly first, then at once)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serving(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_serving(port: int, timeout: float = 30.0) -> float:
    started = time.perf_counter()
    while not serving(port):
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"nothing listening on {port}")
        time.sleep(0.005)
    return time.perf_counter() - started


def make_project(root: Path) -> Path:
    project = root / "tuibench"
    steps = project / "steps"
    steps.mkdir(parents=True)
    (steps / "hello_step.py").write_text(HELLO_STEP)
    (steps / "chatty_step.py").write_text(CHATTY_STEP)
    (steps / "burst_step.py").write_text(BURST_STEP)
    (steps / "flood_step.py").write_text(FLOOD_STEP)
    return project


LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(port: int, path: str, seconds: float, connections: int,
        script: Path | None = None) -> dict[str, float]:
    """wrk's requests/s, request count and latency in ms (p50, p99, max); one thread, as
    the server has the other core."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} failed responses:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    slowest = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    if rate is None or count is None or p50 is None or p99 is None or slowest is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    return {"rps": float(rate.group(1)), "requests": float(count.group(1)),
            "p50_ms": _ms(p50), "p99_ms": _ms(p99), "max_ms": _ms(slowest)}


def _ms(match: re.Match[str]) -> float:
    return float(match.group(1)) * LATENCY_UNITS[match.group(2)]


class Terminal(threading.Thread):
    """The reading side of a pseudo-terminal: keeps the newest output, counts all of it."""

    KEEP = 4 << 20

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.total = 0
        self._tail = bytearray()
        self._cond = threading.Condition()
        self._open = True
        self._reading = threading.Event()
        self._reading.set()

    def freeze(self) -> None:
        """Stop reading, as a stalled SSH link does: the terminal's buffer fills up."""
        self._reading.clear()

    def thaw(self) -> None:
        self._reading.set()

    def run(self) -> None:
        while self._open:
            self._reading.wait()
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            with self._cond:
                self.total += len(chunk)
                self._tail += chunk
                if len(self._tail) > self.KEEP:
                    del self._tail[: len(self._tail) - self.KEEP]
                self._cond.notify_all()

    def wait_for(self, mark: bytes, after: int, timeout: float = 10.0) -> float:
        """Seconds until `mark` appears in the output written after byte `after`."""
        started = time.perf_counter()
        with self._cond:
            while True:
                start = max(0, len(self._tail) - (self.total - after) - len(mark))
                if mark in self._tail[start:]:
                    return time.perf_counter() - started
                left = timeout - (time.perf_counter() - started)
                if left <= 0:
                    raise TimeoutError(f"{mark!r} never reached the terminal")
                self._cond.wait(left)

    def last_of(self, marks: list[bytes], after: int) -> bytes | None:
        """Which of `marks` was written last after byte `after`."""
        with self._cond:
            tail = bytes(self._tail[max(0, len(self._tail) - (self.total - after)) :])
        found = {mark: tail.rfind(mark) for mark in marks}
        last = max(found, key=lambda mark: found[mark])
        return last if found[last] >= 0 else None

    def newest_count(self, pattern: bytes) -> int:
        """The number in the last match of `pattern` (one group, digits and commas)."""
        with self._cond:
            tail = bytes(self._tail)
        found = re.findall(pattern, tail)
        return int(found[-1].replace(b",", b"")) if found else 0

    def close(self) -> None:
        self._open = False
        self._reading.set()


@contextmanager
def workbench(motia: str, project: Path, port: int, record: Path | None = None,
              probe: Path | None = None, probe_options: tuple[str, ...] = (),
              probe_script: str = "gc_probe.py", code: Path | None = None,
              ) -> Iterator[tuple[subprocess.Popen[bytes], Terminal, float]]:
    """`motia tui` on a 120x36 pty (recording to `record` if given; under `probe_script`
    writing what it records to `probe` if given: by default `gc_probe.py`, the collector's
    pauses; the workbench's code taken from the tree `code` if given); yields the process,
    its terminal and its start time."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    started = time.perf_counter()
    recording = ["--record", str(record)] if record is not None else []
    if code is not None:
        env["PYTHONPATH"] = str(code)
    command = [motia] if probe is None else [sys.executable, str(HERE / probe_script),
                                             str(probe), *probe_options]
    process = subprocess.Popen(
        [*command, "tui", "--dir", str(project), "--port", str(port), *recording],
        stdin=slave, stdout=slave, stderr=slave, cwd=project, env=env, start_new_session=True,
    )
    os.close(slave)
    terminal = Terminal(master)
    terminal.start()
    try:
        yield process, terminal, started
    finally:
        if process.poll() is None:
            os.write(master, b"q")
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        terminal.close()
        os.close(master)


@contextmanager
def headless(motia: str, project: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [motia, "dev", "--no-tui", "--dir", str(project), "--port", str(port)],
        cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serving_on_logs(port: int, terminal: Terminal) -> None:
    """Wait until the workbench serves and has painted, then switch it to the Logs pane."""
    wait_serving(port)
    terminal.wait_for(b"Flows", 0)
    mark = terminal.total
    os.write(terminal.master, b"4")
    terminal.wait_for(TAB_MARKS[b"4"], mark)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


def cpu_s(pid: int, thread: int | None = None) -> float:
    """User and system CPU seconds the process (or one thread of it) has used so far."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_throughput(motia: str, root: Path, seconds: float, rounds: int) -> dict[str, float]:
    """Headless and workbench runs alternate, `rounds` of each; medians are reported, as two
    cores shared with wrk make any single run noisy."""
    project = make_project(root / "throughput")
    alone: list[float] = []
    drawing: list[float] = []
    alone_cpu: list[float] = []
    drawing_cpu: list[float] = []
    """CPU microseconds of the serving process per request (all its threads): on a shared
    machine a steadier comparison than requests/s, which measure the others' load too."""
    drawn: list[float] = []
    for _round in range(rounds):
        shutil.rmtree(project / ".motia", ignore_errors=True)
        port = free_port()
        with headless(motia, project, port) as server:
            wait_serving(port)
            wrk(port, "/hello", 2, 32)
            used = cpu_s(server.pid)
            run = wrk(port, "/hello", seconds, 32)
            alone.append(run["rps"])
            alone_cpu.append((cpu_s(server.pid) - used) / run["requests"] * 1e6)
        shutil.rmtree(project / ".motia", ignore_errors=True)
        port = free_port()
        with workbench(motia, project, port) as (process, terminal, _started):
            serving_on_logs(port, terminal)
            wrk(port, "/hello", 2, 32)
            before = terminal.total
            used = cpu_s(process.pid)
            run = wrk(port, "/hello", seconds, 32)
            drawing.append(run["rps"])
            drawing_cpu.append((cpu_s(process.pid) - used) / run["requests"] * 1e6)
            drawn.append((terminal.total - before) / seconds)
    headless_rps, tui_rps = statistics.median(alone), statistics.median(drawing)
    ratios = [tui / bare for tui, bare in zip(drawing, alone, strict=True)]
    return {"headless_rps": headless_rps, "tui_rps": tui_rps, "ratio": tui_rps / headless_rps,
            "ratio_low": min(ratios), "ratio_high": max(ratios),
            "headless_cpu_us": statistics.median(alone_cpu),
            "tui_cpu_us": statistics.median(drawing_cpu),
            "cpu_ratio": statistics.median(alone_cpu) / statistics.median(drawing_cpu),
            "drawn_kib_s": statistics.median(drawn) / 1024, "rounds": rounds}


def time_tab_switches(terminal: Terminal, presses: int,
                      deadline: float = float("inf")) -> list[float]:
    """Seconds from writing `3` or `4` (in turn, 0.1 s apart) to its pane's mark on screen,
    until `presses` are timed or `deadline` (a `perf_counter` time) passes."""
    latencies: list[float] = []
    while time.perf_counter() < deadline and len(latencies) < presses:
        for key in (b"3", b"4"):
            mark = terminal.total
            started = time.perf_counter()
            os.write(terminal.master, key)
            terminal.wait_for(TAB_MARKS[key], mark)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.1)
    return latencies


def bench_keys(motia: str, root: Path, seconds: float, presses: int,
               record: Path | None = None) -> dict[str, float]:
    project = make_project(root / ("keys-recorded" if record else "keys"))
    port = free_port()
    with workbench(motia, project, port, record) as (_process, terminal, _started):
        wait_serving(port)
        terminal.wait_for(b"Flows", 0)
        loader = PacedLoad(port, "/hello", KEYS_LOAD_RPS, seconds + BURSTS * BURST_SECONDS)
        loader.start()
        time.sleep(1.0)
        latencies = time_tab_switches(terminal, presses, time.perf_counter() + seconds - 2)
        bursts, same = bench_bursts(terminal)
        load = loader.join_result()
    latencies.sort()
    return {
        "load_rps": load["rps"],
        "load_target_rps": load["target_rps"],
        "request_p50_ms": load["p50_ms"],
        "presses": len(latencies),
        "key_p50_ms": statistics.median(latencies) * 1000,
        "key_p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "key_max_ms": latencies[-1] * 1000,
        "bursts": len(bursts),
        "burst_p50_ms": statistics.median(bursts) * 1000,
        "burst_max_ms": max(bursts) * 1000,
        "burst_same_end": same,
    }


def bench_recording(motia: str, root: Path, seconds: float, rounds: int) -> dict[str, float]:
    """`motia tui` on Logs without and with `--record`, alternating, `rounds` of each."""
    project = make_project(root / "recording")
    cast = root / "bench.cast"
    plain: list[float] = []
    recorded: list[float] = []
    cast_rates: list[float] = []
    for _round in range(rounds):
        for record in (None, cast):
            shutil.rmtree(project / ".motia", ignore_errors=True)
            cast.unlink(missing_ok=True)
            port = free_port()
            with workbench(motia, project, port, record) as (_process, terminal, _started):
                serving_on_logs(port, terminal)
                wrk(port, "/hello", 2, 32)
                size = cast.stat().st_size if record else 0
                rps = wrk(port, "/hello", seconds, 32)["rps"]
                if record is None:
                    plain.append(rps)
                else:
                    recorded.append(rps)
                    cast_rates.append((cast.stat().st_size - size) / seconds)
    ratios = [with_cast / without for with_cast, without in zip(recorded, plain, strict=True)]
    keys_plain = bench_keys(motia, root, max(seconds, 10), presses=40)
    keys_recorded = bench_keys(motia, root, max(seconds, 10), presses=40, record=cast)
    return {"tui_rps": statistics.median(plain), "recorded_rps": statistics.median(recorded),
            "ratio": statistics.median(recorded) / statistics.median(plain),
            "ratio_low": min(ratios), "ratio_high": max(ratios),
            "cast_kib_s": statistics.median(cast_rates) / 1024, "rounds": rounds,
            "load_rps": keys_recorded["load_rps"],
            "key_p50_ms": keys_plain["key_p50_ms"],
            "recorded_key_p50_ms": keys_recorded["key_p50_ms"],
            "recorded_key_p95_ms": keys_recorded["key_p95_ms"]}


def recording_section(recording: dict[str, float], command: str) -> str:
    cpu = platform.processor() or platform.machine()
    r = recording
    rows = [
        f"| api step, `motia tui` showing Logs (wrk, 32 connections, median of "
        f"{r['rounds']:.0f}) | {r['tui_rps']:,.0f} req/s | baseline |",
        f"| same, with `--record` | {r['recorded_rps']:,.0f} req/s, "
        f"{r['cast_kib_s']:,.0f} KiB/s of cast written | |",
        f"| recording / not (medians; rounds ranged {r['ratio_low']:.0%} to "
        f"{r['ratio_high']:.0%}) | {r['ratio']:.0%} | >= 95% |",
        f"| key press to redraw at {r['load_rps']:,.0f} req/s, p50: without / with `--record` "
        f"| {r['key_p50_ms']:.1f} ms / {r['recorded_key_p50_ms']:.1f} ms | < 50 ms |",
        f"| same with `--record`, p95 | {r['recorded_key_p95_ms']:.1f} ms | |",
    ]
    table = "\n".join(rows)
    return f"""
Run on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}), Python
{platform.python_version()}, `{command}`. `motia tui` on Logs on a {COLUMNS}x{ROWS}
pseudo-terminal read continuously, without and with `--record FILE.cast`, in alternating
rounds; wrk uses one thread.

| measure | figure | target |
| --- | --- | --- |
{table}
"""


def bench_bursts(terminal: Terminal) -> tuple[list[float], int]:
    """Seconds each burst took to show its end state, and how many ended where the same
    keys typed slowly (a tenth of a second apart) end."""
    rng = random.Random(13)
    took: list[float] = []
    same = 0
    footers = list(FOOTER_MARKS.values())
    for _burst in range(BURSTS):
        keys = [bytes([rng.choice(b"12356")]) for _ in range(BURST_KEYS - 1)]
        keys.append(rng.choice([b"3", b"4"]))
        mark = terminal.total
        for key in keys:
            os.write(terminal.master, key)
            time.sleep(0.1)
        terminal.wait_for(FOOTER_MARKS[keys[-1]], mark)
        time.sleep(0.5)
        slow_end = terminal.last_of(footers, mark)
        os.write(terminal.master, b"1")
        time.sleep(0.5)
        mark = terminal.total
        started = time.perf_counter()
        os.write(terminal.master, b"".join(keys))
        terminal.wait_for(TAB_MARKS[keys[-1]], mark)
        terminal.wait_for(FOOTER_MARKS[keys[-1]], mark)
        took.append(time.perf_counter() - started)
        time.sleep(0.5)
        same += terminal.last_of(footers, mark) == slow_end == FOOTER_MARKS[keys[-1]]
    return took, same


def bench_frozen(motia: str, root: Path, seconds: float) -> dict[str, float]:
    """Request latency near 500 requests/s with the Logs pane drawing, the terminal read and
    then left unread."""
    project = make_project(root / "frozen")
    script = root / "paced.lua"
    script.write_text(PACED)
    port = free_port()
    with workbench(motia, project, port) as (_process, terminal, _started):
        serving_on_logs(port, terminal)
        read = wrk(port, "/hello", seconds, 12, script)
        terminal.freeze()
        time.sleep(1.0)
        frozen = wrk(port, "/hello", seconds, 12, script)
        unread = struct.unpack("i", fcntl.ioctl(terminal.master, termios.FIONREAD, b"\0" * 4))[0]
        terminal.thaw()
    if unread == 0:
        raise RuntimeError("the terminal was never left unread: the frozen run measured nothing")
    return {"rps": frozen["rps"], "unread_bytes": unread,
            **{f"read_{k}": read[k] for k in ("p50_ms", "p99_ms", "max_ms")},
            **{f"frozen_{k}": frozen[k] for k in ("p50_ms", "p99_ms", "max_ms")}}


def bench_startup(motia: str, root: Path, runs: int) -> dict[str, float]:
    paints, serves = [], []
    for run in range(runs):
        project = make_project(root / f"startup{run}")
        port = free_port()
        with workbench(motia, project, port) as (_process, terminal, started):
            terminal.wait_for(b"Flows", 0, timeout=30)
            paints.append(time.perf_counter() - started)
            wait_serving(port)
            serves.append(time.perf_counter() - started)
    return {"first_paint_s": statistics.median(paints), "serving_s": statistics.median(serves)}


def bench_memory(motia: str, root: Path, seconds: float,
                 records: int = LOGS_PANE_CAPACITY, probe_options: tuple[str, ...] = (),
                 census_to: Path | None = None) -> dict[str, Any]:
    """A step logging 1,000 records a request, called back to back from two connections,
    until the Logs pane's status line counts `records`, then `seconds` more: the
    workbench's RSS every second (`rss_series`: one sample every `RSS_SERIES_S`), its slope
    once the pane is full, and its collection pauses (`gc_probe.py`: the longest, and the
    ten longest with when they came). `probe_options` go to the probe (`--census`,
    `--tracemalloc`), whose census is written to `census_to`. (wrk would count the slower
    of these requests as timeouts.)"""
    project = make_project(root / "memory")
    port = free_port()
    probe = root / "memory" / "gc.json"
    samples: list[tuple[float, float, int]] = []
    requests = 0.0
    with workbench(motia, project, port, probe=probe, probe_options=probe_options) as (
        process, terminal, _started
    ):
        serving_on_logs(port, terminal)
        stop = threading.Event()

        def load() -> None:
            nonlocal requests
            while not stop.is_set():
                with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
                    sock.sendall(b"GET /flood HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    while sock.recv(1 << 16):
                        pass
                requests += 1

        loaders = [threading.Thread(target=load) for _ in range(2)]
        began = time.perf_counter()
        for loader in loaders:
            loader.start()
        full_at: float | None = None
        try:
            while all(loader.is_alive() for loader in loaders):
                time.sleep(1.0)
                elapsed = time.perf_counter() - began
                count = terminal.newest_count(rb"([\d,]+) records  \xc2\xb7")
                samples.append((elapsed, rss_mb(process.pid), count))
                if full_at is None and count >= records:
                    full_at = elapsed
                if full_at is not None and elapsed >= full_at + seconds:
                    break
                if elapsed > MEMORY_CAP_S:
                    break
        finally:
            stop.set()
            for loader in loaders:
                loader.join()
        ended = time.perf_counter() - began
        used_cpu_s = cpu_s(process.pid)
        time.sleep(1.5)  # the probe writes every second
        pauses = json.loads(probe.read_text())
    if census_to is not None:
        census_to.write_text(json.dumps({"census": pauses["census"],
                                         "garbage": pauses["garbage"],
                                         "young": pauses["young"]}, indent=1))
    after = [(t, mb) for t, mb, _ in samples if full_at is not None and t >= full_at]
    slope = _slope(after) * 60 if len(after) >= 3 else float("nan")
    return {
        "requests": requests,
        "records_per_s": requests * FLOOD_LINES / ended,
        "records_shown": samples[-1][2],
        "full_at_s": full_at if full_at is not None else float("nan"),
        "rss_at_full_mb": after[0][1] if after else float("nan"),
        "rss_end_mb": samples[-1][1],
        "rss_max_mb": max(mb for _, mb, _ in samples),
        "slope_mb_per_min": slope,
        "window_s": (after[-1][0] - after[0][0]) if len(after) >= 2 else 0.0,
        "gc_longest_ms": pauses["longest_ms"],
        "gc_longest_cpu_ms": pauses["longest_cpu_ms"],
        "gc_longest_generation": pauses["longest_generation"],
        "gc_collections": sum(pauses["collections"]),
        "gc_after_start_longest_ms": pauses["tuned_longest_ms"],
        "gc_after_start_longest_cpu_ms": pauses["tuned_longest_cpu_ms"],
        "gc_after_start_by_generation": pauses["tuned_collections"],
        "gc_cpu_s": pauses["total_cpu_ms"] / 1000,
        "process_cpu_s": used_cpu_s,
        "gc_by_generation": pauses["collections"],
        "gc_longest_pauses": pauses["pauses"],
        "rss_series": [(round(t), round(mb, 1), count) for t, mb, count in samples
                       if round(t) % RSS_SERIES_S == 0],
    }


def bench_burst(motia: str, root: Path) -> dict[str, float]:
    """A step logging 5,000 records a run, called 20 times in a row with the Logs pane
    shown: how many records the pane's status line counts once the burst is over, and how
    long the burst took."""
    project = make_project(root / "burst")
    port = free_port()
    with workbench(motia, project, port) as (_process, terminal, _started):
        serving_on_logs(port, terminal)
        started = time.perf_counter()
        for _run in range(BURST_RUNS):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(b"GET /burst HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while sock.recv(1 << 16):
                    pass
        took = time.perf_counter() - started
        expected = BURST_RUNS * BURST_LINES
        deadline = time.perf_counter() + 60
        shown = 0
        while time.perf_counter() < deadline and shown < expected:
            time.sleep(0.5)
            shown = terminal.newest_count(rb"([\d,]+) records  \xc2\xb7")
    return {"logged": expected, "shown": shown, "burst_s": took}


def _slope(points: list[tuple[float, float]]) -> float:
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="throughput runs of each kind")
    parser.add_argument("--memory-seconds", type=float, default=90,
                        help="load kept on once the Logs pane is full")
    parser.add_argument("--memory-records", type=int, default=LOGS_PANE_CAPACITY,
                        help="records the Logs pane counts before the memory window starts")
    parser.add_argument("--full", action="store_true", help="10 minutes of memory load")
    parser.add_argument("--census", type=float, default=0,
                        help="memory part: count what the collector walks, by type, this often"
                             " (seconds; written to --census-to)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="memory part: the census adds tracemalloc's top source lines")
    parser.add_argument("--garbage", type=int, default=0,
                        help="memory part: describe what each middle or full collection that"
                             " frees at least this many objects freed (to --census-to)")
    parser.add_argument("--young", type=float, default=0,
                        help="memory part: describe what a young collection walks, at its"
                             " start, this often (seconds; to --census-to)")
    parser.add_argument("--census-to", type=Path, default=Path("census.json"))
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    parser.add_argument("--recording-only", action="store_true",
                        help="only the cost of --record (throughput and key presses)")
    parser.add_argument("--only", default="",
                        help="comma-separated parts to run and print, writing nothing: "
                             "throughput, keys, frozen, startup, memory, burst")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    motia = shutil.which("motia")
    if motia is None:
        raise SystemExit("the motia command is needed: pip install -e .")
    memory_seconds = 600 if args.full else args.memory_seconds
    probe_options = ((("--census", f"{args.census:g}") if args.census else ())
                     + (("--tracemalloc",) if args.tracemalloc else ())
                     + (("--garbage", str(args.garbage)) if args.garbage else ())
                     + (("--young", f"{args.young:g}") if args.young else ()))
    recording_command = (f"python bench/tui.py --seconds {args.seconds:g} "
                         f"--rounds {args.rounds}")
    if args.only:
        parts = {
            "throughput": lambda root: bench_throughput(motia, root, args.seconds, args.rounds),
            "keys": lambda root: bench_keys(motia, root, max(args.seconds, 10), presses=40),
            "frozen": lambda root: bench_frozen(motia, root, max(args.seconds, 10)),
            "startup": lambda root: bench_startup(motia, root, runs=3),
            "memory": lambda root: bench_memory(motia, root, memory_seconds,
                                                args.memory_records, probe_options,
                                                args.census_to if probe_options else None),
            "burst": lambda root: bench_burst(motia, root),
        }
        with tempfile.TemporaryDirectory() as tmp:
            for part in args.only.split(","):
                print(part, os.getloadavg(), parts[part](Path(tmp) / part))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recording = bench_recording(motia, root / "recording", args.seconds, args.rounds)
        print(recording)
        if args.recording_only:
            if not args.no_write:
                write_section(RECORDING_SECTION, recording_section(
                    recording, recording_command + " --recording-only"))
                print(f"wrote {RESULTS}")
            return
        throughput = bench_throughput(motia, root, args.seconds, args.rounds)
        print(throughput)
        keys = bench_keys(motia, root, max(args.seconds, 10), presses=40)
        print(keys)
        frozen = bench_frozen(motia, root, max(args.seconds, 10))
        print(frozen)
        startup = bench_startup(motia, root, runs=3)
        print(startup)
        memory = bench_memory(motia, root, memory_seconds, args.memory_records, probe_options,
                              args.census_to if probe_options else None)
        print(memory)
        burst = bench_burst(motia, root)
        print(burst)
    if args.no_write:
        return
    cpu = platform.processor() or platform.machine()
    command = (f"python bench/tui.py --seconds {args.seconds:g} --rounds {args.rounds}"
               + (" --full" if args.full else f" --memory-seconds {args.memory_seconds:g}"))
    body = f"""
Run on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}), Python
{platform.python_version()}, `{command}`. The workbench runs on a {COLUMNS}x{ROWS}
pseudo-terminal that the benchmark reads continuously; wrk uses one thread.

| measure | figure | target |
| --- | --- | --- |
| api step, `motia dev --no-tui` (wrk, 32 connections, median of {args.rounds}) | \
{throughput['headless_rps']:,.0f} req/s | baseline |
| same step, `motia tui` showing Logs (same load) | {throughput['tui_rps']:,.0f} req/s, \
{throughput['drawn_kib_s']:,.0f} KiB/s drawn | |
| with the workbench / headless (medians; rounds ranged \
{throughput['ratio_low']:.0%} to {throughput['ratio_high']:.0%}) | {throughput['ratio']:.0%} | \
>= 90% |
| CPU per request of the serving process, headless / workbench (medians) | \
{throughput['headless_cpu_us']:,.0f} / {throughput['tui_cpu_us']:,.0f} us \
({throughput['cpu_ratio']:.0%}) | |
| key press to redraw (tab switch) at {keys['load_rps']:,.0f} req/s (of \
{keys['load_target_rps']:,.0f} asked), p50 | \
{keys['key_p50_ms']:.1f} ms | < 50 ms |
| same, p95 / max ({keys['presses']:.0f} presses) | {keys['key_p95_ms']:.1f} ms / \
{keys['key_max_ms']:.1f} ms | |
| burst of {BURST_KEYS} keys written at once, to the last pane and its footer on screen: \
p50 / max ({keys['bursts']:.0f} bursts) | {keys['burst_p50_ms']:.0f} / \
{keys['burst_max_ms']:.0f} ms | < 1 s |
| bursts ending where the same keys typed slowly end | \
{keys['burst_same_end']:.0f} of {keys['bursts']:.0f} | all |
| request latency at {frozen['rps']:,.0f} req/s, terminal read: p50 / p99 / max | \
{frozen['read_p50_ms']:.1f} / {frozen['read_p99_ms']:.1f} / {frozen['read_max_ms']:.1f} ms | |
| same, nobody reading the terminal ({frozen['unread_bytes']:,.0f} bytes left unread): \
p50 / p99 / max | \
{frozen['frozen_p50_ms']:.1f} / {frozen['frozen_p99_ms']:.1f} / {frozen['frozen_max_ms']:.1f} ms \
| < 50 ms |
| start to first paint (median of 3) | {startup['first_paint_s']:.2f} s | < 1.5 s |
| start to serving HTTP (median of 3) | {startup['serving_s']:.2f} s | |
| memory under load at {memory['records_per_s']:,.0f} log records/s: the Logs pane counts \
{memory['records_shown']:,.0f} records | full after {memory['full_at_s']:.0f} s | |
| RSS when full / at the end / max | {memory['rss_at_full_mb']:.0f} / \
{memory['rss_end_mb']:.0f} / {memory['rss_max_mb']:.0f} MB | <= 200 MB |
| RSS slope once full ({memory['window_s']:.0f} s window) | \
{memory['slope_mb_per_min']:+.1f} MB/min | flat |
| longest collection pause in the workbench ({memory['gc_collections']:,.0f} collections; \
generation {memory['gc_longest_generation']:.0f}): wall / CPU | \
{memory['gc_longest_ms']:.1f} / {memory['gc_longest_cpu_ms']:.1f} ms | <= 20 ms |
| same once started (collections by generation \
{'/'.join(map(str, memory['gc_after_start_by_generation']))}): wall / CPU | \
{memory['gc_after_start_longest_ms']:.1f} / {memory['gc_after_start_longest_cpu_ms']:.1f} ms \
| <= 20 ms |
| burst: {BURST_RUNS} runs of {BURST_LINES:,} records in a row ({burst['burst_s']:.1f} s), \
records the Logs pane counts | {burst['shown']:,.0f} of {burst['logged']:,.0f} | all |

The Logs pane holds up to {LOGS_PANE_CAPACITY:,} records, so its memory grows until the ring
is full and stays flat after; the engine keeps 10,000 traces and log records in memory.
"""
    write_section(SECTION, body)
    write_section(RECORDING_SECTION, recording_section(recording, recording_command))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
