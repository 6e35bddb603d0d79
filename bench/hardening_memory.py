"""What big requests cost the server: its memory, its store and its next start.

    python bench/hardening_memory.py [--requests 100] [--mb 10] [--rounds 1]

`motia start` serves an api step that answers the size of what it got. The benchmark posts
`--requests` JSON bodies of `--mb` MB each, one after another, then reads the server's RSS
(`VmRSS`) and the size of its store files, stops it, and times a restart (from spawning
`motia start` to its first 200 on `/__motia/health`). It does so twice in each round on the
same machine: with spans keeping whole bodies (`span_body_bytes` set above the body size,
what every span did before the setting existed) and with the default cut (64 KiB). Figures
go to the "## Hardening: big requests" section of bench/RESULTS.md (other sections are kept).
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
from pathlib import Path

import httpx
from results import RESULTS, write_section

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Hardening: big requests"
STEP = '''
config = {"type": "api", "name": "Upload", "path": "/upload", "method": "POST", "emits": []}


async def handler(req, ctx):
    return {"status": 200, "body": {"bytes": len(req.rawBody)}}
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _start(project: Path, port: int, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], float]:
    """`motia start` on `port`, and the seconds until it answered its health check."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "motia_tui.cli", "start", "--dir", str(project), "--port",
         str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    deadline = started + 120
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"motia start exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/__motia/health", timeout=2).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    process.kill()
    raise RuntimeError("motia start never answered")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(60)


def _store_mb(project: Path) -> float:
    return sum(p.stat().st_size for p in (project / ".motia").glob("store.sqlite3*")) / 1e6


def measure(span_body_bytes: int | None, requests: int, mb: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="motia-hardening-") as tmp:
        project = Path(tmp) / "app"
        (project / "steps").mkdir(parents=True)
        (project / "steps" / "upload_step.py").write_text(STEP)
        env = {"MOTIA_TAPE": "false"}
        if span_body_bytes is not None:
            env["MOTIA_SPAN_BODY_BYTES"] = str(span_body_bytes)
        port = _free_port()
        process, _ = _start(project, port, env)
        rss_before = _rss_mb(process.pid)
        body = b'{"blob": "' + b"x" * (mb * 1_000_000 - 12) + b'"}'
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for _ in range(requests):
                answer = client.post("/upload", content=body,
                                     headers={"content-type": "application/json"})
                assert answer.status_code == 200, answer.text
        time.sleep(1.0)  # the store's writer thread commits what it has
        rss_after = _rss_mb(process.pid)
        _stop(process)
        store = _store_mb(project)
        process, restart_s = _start(project, port, env)
        _stop(process)
        return {"rss_before": rss_before, "rss_after": rss_after, "store": store,
                "restart": restart_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--mb", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    whole_bytes = args.mb * 1_000_000 * 2
    runs: dict[str, list[dict[str, float]]] = {"whole": [], "cut": []}
    for _ in range(args.rounds):
        runs["whole"].append(measure(whole_bytes, args.requests, args.mb))
        runs["cut"].append(measure(None, args.requests, args.mb))
    load = os.getloadavg()[0]

    def median(kind: str, key: str) -> str:
        values = [r[key] for r in runs[kind]]
        figure = statistics.median(values)
        spread = f" ({min(values):.1f} to {max(values):.1f})" if len(values) > 1 else ""
        return f"{figure:,.1f}{spread}"

    rows = [
        ("RSS at start, MB", "rss_before"),
        (f"RSS after {args.requests} requests of {args.mb} MB, MB", "rss_after"),
        ("store files after them, MB", "store"),
        ("restart until the first health answer, s", "restart"),
    ]
    table = ["| measure | whole bodies in spans (before) | default cut, 64 KiB (after) |",
             "| --- | --- | --- |"]
    table += [f"| {label} | {median('whole', key)} | {median('cut', key)} |"
              for label, key in rows]
    ratio_rss = statistics.median(r["rss_after"] for r in runs["whole"]) / statistics.median(
        r["rss_after"] for r in runs["cut"])
    body = f"""
Run on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({platform.machine()}), Python
{platform.python_version()}, load average {load:.1f} at the end,
`python bench/hardening_memory.py --requests {args.requests} --mb {args.mb} --rounds
{args.rounds}`: `motia start`, one client posting one body after another.

{chr(10).join(table)}

"Before" is the same server with `span_body_bytes` above the body size, so each span keeps
the whole body, as every span did before the setting; "after" is the default. RSS after the
requests is {ratio_rss:.0f}x lower with the cut. Figures are medians of {args.rounds} round(s)
(with the spread when there is more than one); the restart includes Python's own start.
"""
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
