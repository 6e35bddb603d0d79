"""Real Redis for the tests: the shared server on 127.0.0.1:6379 under a unique key prefix,
or a private `redis-server` on a free port in a temp folder for tests that restart it.

Without a Redis on 6379 the tests skip, except under `CI=true`, where they fail: CI starts one
(`.ci/run`), and a missing component there is a defect, not a reason to pass.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

SHARED_URL = "redis://127.0.0.1:6379/0"


def shared_url() -> str:
    """The shared Redis, or skip (fail under CI) when nothing answers there."""
    try:
        redis.Redis.from_url(SHARED_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Redis on 127.0.0.1:6379 under CI: {exc}")
        pytest.skip(f"no Redis on 127.0.0.1:6379: {exc}")
    return SHARED_URL


def unique_prefix() -> str:
    return f"motia-test-{uuid.uuid4().hex[:12]}"


def delete_prefix(url: str, prefix: str) -> None:
    """Remove every key of one test's prefix (never anything else on the shared server)."""
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1_000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


@contextlib.contextmanager
def prefix_on(url: str) -> Iterator[str]:
    prefix = unique_prefix()
    try:
        yield prefix
    finally:
        delete_prefix(url, prefix)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A `redis-server` of the test's own, which it may stop, restart and configure."""

    def __init__(self, folder: Path, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed under CI")
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.folder), "--save", "", *self.extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: what a crash looks like to Redis (only its append-only file survives)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
