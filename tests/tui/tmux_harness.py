"""`motia tui` in a real terminal of a chosen size: tmux runs it, tests type keys and read it.

Each terminal has its own tmux server socket under the test's tmp folder, so parallel runs
never meet. Keys go one `send-keys` call each, as a person types them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def motia_command(*args: str) -> str:
    """The installed console script beside this interpreter, as a user would run it."""
    script = Path(sys.executable).with_name("motia")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "motia_tui.cli"]
    return " ".join(shlex.quote(part) for part in [*command, *args])


class Terminal:
    """One detached tmux session of a fixed size."""

    def __init__(self, socket_path: Path, columns: int, rows: int) -> None:
        self.name = f"motia-{uuid.uuid4().hex[:8]}"
        self.base = [str(TMUX), "-S", str(socket_path)]
        self.columns, self.rows = columns, rows

    def start(self, command: str, cwd: Path) -> None:
        """Run `command`; the pane stays open after it ends, so its last words can be read."""
        size = ["-x", str(self.columns), "-y", str(self.rows)]
        subprocess.run(
            [*self.base, "new-session", "-d", "-s", self.name, *size, "-c", str(cwd),
             f"{command}; sleep 60"],
            check=True,
            env={**os.environ, "TERM": "xterm-256color"},
        )
        subprocess.run([*self.base, "resize-window", "-t", self.name, *size], check=True)

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([*self.base, "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.05)

    def paste(self, text: str) -> None:
        """What the terminal's own paste sends: bracketed, as the application asked for."""
        buffer = f"paste-{uuid.uuid4().hex[:8]}"
        subprocess.run([*self.base, "set-buffer", "-b", buffer, text], check=True)
        subprocess.run([*self.base, "paste-buffer", "-p", "-d", "-b", buffer, "-t", self.name],
                       check=True)

    def screen(self) -> str:
        done = subprocess.run(
            [*self.base, "capture-pane", "-p", "-t", self.name],
            capture_output=True, text=True, check=False,
        )
        return done.stdout

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, check=False)


def terminal_of(tmp_path: Path, columns: int, rows: int) -> Iterator[Terminal]:
    """A fixture body: a terminal, or a skip (a failure under CI) without tmux."""
    if TMUX is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed")
        pytest.skip("tmux is not installed")
    term = Terminal(tmp_path / "tmux.sock", columns, rows)
    try:
        yield term
    finally:  # a failing test's terminal too: its server would outlive the run
        term.close()
