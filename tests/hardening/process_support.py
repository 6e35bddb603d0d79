"""`motia dev --no-tui` and `motia start` as real processes: a free port, the lines they print,
and a wait for the port to answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

MOTIA = [sys.executable, "-m", "motia_tui.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Motia:
    """A running `motia` command whose output is read on a thread, so a test can wait for a
    line without blocking on a process that prints nothing."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if needle in line:
                    return line
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"{needle!r} never printed; got:\n{self.output}")

    def wait_until(self, predicate: Callable[[], object], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting; motia printed:\n{self.output}")
            time.sleep(0.05)

    def wait_serving(self, timeout: float = 30) -> float:
        """Seconds until the server's port answers an HTTP request."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise AssertionError(f"motia exited with {self.process.returncode}:\n{self.output}")
            try:
                httpx.get(f"{self.url}/__motia/health", timeout=1)
                return time.monotonic() - started
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"motia never served on {self.url}:\n{self.output}")

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


@contextmanager
def motia(args: list[str], project_dir: Path, env: dict[str, str] | None = None) -> Iterator[Motia]:
    """`motia ARGS --dir PROJECT --port FREE`, killed at the end if it is still running."""
    port = free_port()
    process = subprocess.Popen(
        [*MOTIA, *args, "--dir", str(project_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    running = Motia(process, port)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
