"""Several `motia start` workers on one project and one Redis, as real processes.

Each worker is `python -m motia_tui.cli start --redis URL` on a free port, with the test's
own key prefix and a short heartbeat so a killed worker counts as dead within seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

MOTIA = [sys.executable, "-m", "motia_tui.cli"]
TOKEN = "cluster-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Worker:
    def __init__(self, project: Path, redis_url: str, prefix: str, log: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        environ = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "MOTIA_REDIS_PREFIX": prefix,
            "MOTIA_REDIS_HEARTBEAT_S": "2",
            **env,
        }
        self._out = log.open("w")
        self.process = subprocess.Popen(
            [*MOTIA, "start", "--dir", str(project), "--port", str(self.port),
             "--redis", redis_url, "--introspect-token", TOKEN],
            stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environ,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited: {self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/__motia/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"worker not ready: {self.log.read_text()}")

    def health(self) -> dict[str, object]:
        answer = httpx.get(
            f"{self.url}/__motia/health", headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        return dict(answer.json())

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._out.close()


@contextlib.contextmanager
def workers(
    count: int, project: Path, redis_url: str, prefix: str, logs: Path, **env: str
) -> Iterator[list[Worker]]:
    started = [
        Worker(project, redis_url, prefix, logs / f"worker{n}.log", **env) for n in range(count)
    ]
    try:
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:
            worker.close()
