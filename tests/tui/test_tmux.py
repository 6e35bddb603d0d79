"""`motia tui` in a real terminal: tmux runs it, the test types keys and reads the screen.

A request sent to the embedded server must show up in Traces and Logs, a state value edited
from the State pane must reach the engine, and `q` must stop everything with status 0.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pane_harness import copy_project

COLUMNS, ROWS = 120, 36
TMUX = shutil.which("tmux")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def motia_command() -> list[str]:
    """The installed console script beside this interpreter, as a user would run it."""
    script = Path(sys.executable).with_name("motia")
    return [str(script)] if script.exists() else [sys.executable, "-m", "motia_tui.cli"]


class Terminal:
    """One detached tmux session of a fixed size."""

    def __init__(
        self, name: str, socket_path: Path, size: tuple[int, int] = (COLUMNS, ROWS)
    ) -> None:
        self.name = name
        self.base = [str(TMUX), "-S", str(socket_path)]
        self.columns, self.rows = size

    def start(self, command: str, cwd: Path) -> None:
        subprocess.run(
            [
                *self.base,
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                str(self.columns),
                "-y",
                str(self.rows),
                "-c",
                str(cwd),
                command,
            ],
            check=True,
            env={**os.environ, "TERM": "xterm-256color"},
        )
        subprocess.run(
            [*self.base, "resize-window", "-t", self.name, "-x", str(self.columns), "-y",
             str(self.rows)],
            check=True,
        )

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([*self.base, "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.05)

    def burst(self, *keys: str) -> None:
        """Each key its own `send-keys` call, with no pause between them."""
        for key in keys:
            subprocess.run([*self.base, "send-keys", "-t", self.name, key], check=True)

    def screen(self) -> str:
        done = subprocess.run(
            [*self.base, "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout

    def shows(self, predicate: Callable[[str], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate(self.screen()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = 45) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")
            time.sleep(0.1)

    def size(self) -> tuple[int, int]:
        done = subprocess.run(
            [*self.base, "display-message", "-p", "-t", self.name,
             "#{window_width} #{window_height}"],
            capture_output=True, text=True, check=True,
        )
        width, height = done.stdout.split()
        return int(width), int(height)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    if TMUX is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed")
        pytest.skip("tmux is not installed")
    term = Terminal(f"motia-{uuid.uuid4().hex[:8]}", tmp_path / "tmux.sock")
    yield term
    term.close()


def test_motia_tui_in_tmux(tmp_path: Path, terminal: Terminal) -> None:
    project = copy_project(tmp_path)
    port = free_port()
    status_file = tmp_path / "status"
    command = " ".join(
        shlex.quote(part)
        for part in [*motia_command(), "tui", "--dir", str(project), "--port", str(port)]
    )
    terminal.start(f"{command}; echo $? > {shlex.quote(str(status_file))}; sleep 60", project)
    url = f"http://127.0.0.1:{port}"
    terminal.wait_for(lambda s: url in s and "6 steps" in s, "the workbench to start")
    assert terminal.size() == (COLUMNS, ROWS)

    response = httpx.post(f"{url}/greet", json={"name": "Tmux"}, timeout=5)
    assert response.status_code == 200
    trace_id = response.json()["traceId"]

    terminal.keys("3")
    terminal.wait_for(
        lambda s: trace_id[:8] in s and "GreetApi" in s and "3 sp" in s, "the trace in Traces"
    )
    terminal.keys("Enter")
    terminal.wait_for(
        lambda s: "RecordGreeting" in s and "── input" in s, "the waterfall of the trace"
    )
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "Enter opens" in s, "the trace list again")
    terminal.keys("4")
    terminal.wait_for(
        lambda s: "greeting recorded" in s and "Hello, Tmux!" in s, "the log line in Logs"
    )

    terminal.keys("5")
    terminal.wait_for(lambda s: "greetings" in s and "1 key" in s, "the state tree")
    terminal.keys("Down", "Space", "Down", "e")
    terminal.wait_for(lambda s: f"Edit greetings / {trace_id}" in s, "the value editor")
    # The editor takes keys once it has focus, a moment after it first shows: retype until
    # the whole value is on screen.
    for _attempt in range(5):
        terminal.keys("F7")
        terminal.keys(*'{"text": "edited"}')
        if terminal.shows(lambda s: '{"text": "edited"}' in s and "✗" not in s, timeout=2):
            break
    terminal.keys("C-s")
    terminal.wait_for(lambda s: '"edited"' in s and "Edit greetings" not in s, "the edit")
    stored = httpx.get(f"{url}/__motia/state/greetings/{trace_id}", timeout=5).json()
    assert stored == {"text": "edited"}
    traces = httpx.get(f"{url}/__motia/traces", timeout=5).json()["traces"]
    assert any(t["entry"] == "manual state edit" for t in traces)

    terminal.keys("q")
    deadline = time.monotonic() + 15
    while not status_file.exists() or not status_file.read_text().strip():
        assert time.monotonic() < deadline, f"no exit status; screen:\n{terminal.screen()}"
        time.sleep(0.1)
    assert status_file.read_text().strip() == "0"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/__motia/steps", timeout=1)
    assert json.loads(response.text)["message"] == "greeting queued"


def test_motia_tui_refuses_an_incompatible_store_in_one_line(
    tmp_path: Path, terminal: Terminal
) -> None:
    """The workbench builds its server as `motia dev --no-tui` does, and fails as it does."""
    project = copy_project(tmp_path)
    store = project / ".motia" / "store.sqlite3"
    store.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(store) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    command = " ".join(
        shlex.quote(part)
        for part in [*motia_command(), "tui", "--dir", str(project), "--port", str(free_port())]
    )
    terminal.start(f"{command}; echo exit status $?; sleep 60", project)
    screen = terminal.wait_for(lambda s: "exit status" in s, "motia tui to stop")
    assert "Traceback" not in screen
    squeezed = "".join(screen.split())  # a wrapped line loses the space at its edge
    assert "".join(f"motia: {store} was written by store schema version 99".split()) in squeezed
    assert "exit status 1" in screen
