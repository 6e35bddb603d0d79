"""`motia tui --record` in a real terminal (tmux): the cast holds what the terminal showed, plays
back as it looked, keeps masked values masked, and survives `kill -9`."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cast_support import asciinema, output_of, plain, play, read_cast
from pane_harness import copy_project
from test_tmux import TMUX, Terminal, free_port, motia_command

SECRETS = ("Bearer SECRET-AUTH-TOKEN", "session=SECRET-COOKIE", "SECRET-PROXY")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Path]:
    if TMUX is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed")
        pytest.skip("tmux is not installed")
    socket_path = tmp_path / "tmux.sock"
    yield socket_path
    subprocess.run([str(TMUX), "-S", str(socket_path), "kill-server"], capture_output=True,
                   check=False)


def start_recording(tmux: Path, project: Path, cast: Path, port: int,
                    status: Path | None = None) -> Terminal:
    terminal = Terminal(f"rec-{uuid.uuid4().hex[:8]}", tmux)
    command = " ".join(shlex.quote(part) for part in [
        *motia_command(), "tui", "--dir", str(project), "--port", str(port),
        "--record", str(cast)])
    if status is None:
        terminal.start(f"exec {command}", project)
    else:
        terminal.start(f"{command}; echo $? > {shlex.quote(str(status))}; sleep 60", project)
    terminal.wait_for(lambda s: f"127.0.0.1:{port}" in s and "steps" in s, "the workbench")
    return terminal


def stable_screen(terminal: Terminal, cast: Path) -> str:
    """The screen once neither it nor the cast has changed for a second."""
    deadline = time.monotonic() + 20
    last = (terminal.screen(), cast.stat().st_size)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 1.0:
        assert time.monotonic() < deadline, "the screen never settled"
        time.sleep(0.1)
        now = (terminal.screen(), cast.stat().st_size)
        if now != last:
            last, quiet_since = now, time.monotonic()
    return last[0]


def lines_of(screen: str) -> list[str]:
    return [line.rstrip() for line in screen.rstrip("\n").split("\n")]


def test_a_recorded_session_plays_back_as_it_looked(tmp_path: Path, tmux: Path) -> None:
    asciinema()
    project = copy_project(tmp_path)
    port = free_port()
    cast = tmp_path / "session.cast"
    status = tmp_path / "status"
    terminal = start_recording(tmux, project, cast, port, status)

    response = httpx.post(
        f"http://127.0.0.1:{port}/greet", json={"name": "Cast"}, timeout=5,
        headers={"Authorization": SECRETS[0], "Cookie": SECRETS[1],
                 "Proxy-Authorization": SECRETS[2], "X-Visible": "shown-in-the-cast"},
    )
    assert response.status_code == 200
    trace_id = response.json()["traceId"]
    terminal.keys("3")
    terminal.wait_for(lambda s: trace_id[:8] in s and "3 sp" in s, "the trace in Traces")
    terminal.keys("Enter")
    terminal.wait_for(lambda s: "shown-in-the-cast" in s, "the request headers of the span")
    terminal.keys("4")
    terminal.wait_for(lambda s: "Hello, Cast!" in s, "the log line")
    subprocess.run([str(TMUX), "-S", str(tmux), "resize-window", "-t", terminal.name,
                    "-x", "100", "-y", "30"], check=True)
    terminal.wait_for(lambda s: len(lines_of(s)) == 30, "the smaller window")
    shown = stable_screen(terminal, cast)
    prefix = tmp_path / "prefix.cast"
    prefix.write_bytes(cast.read_bytes())

    terminal.keys("q")
    deadline = time.monotonic() + 15
    while not status.exists() or not status.read_text().strip():
        assert time.monotonic() < deadline, f"no exit status; screen:\n{terminal.screen()}"
        time.sleep(0.1)
    assert status.read_text().strip() == "0"

    header, events = read_cast(cast)
    assert (header["width"], header["height"]) == (120, 36)
    assert header["env"]["TERM"]
    markers = [data for _at, code, data in events if code == "m"]
    assert markers[-2:] == ["Traces", "Logs"]
    # Every size the terminal took (tmux may pass through its default before the first one).
    assert [data for _at, code, data in events if code == "r"][-1] == "100x30"
    text = output_of(events)
    assert "shown-in-the-cast" in text
    for secret in (*SECRETS, "SECRET-"):
        assert secret not in text
    assert "\x1b[?1049l" in text[-200:]  # the terminal given back: the exit is recorded too
    assert "Hello, Cast!" in plain(play(cast))

    # Play the cast up to that moment into a fresh terminal of the same size: same screen.
    player = Terminal(f"play-{uuid.uuid4().hex[:8]}", tmux)
    player.start(f"{shlex.quote(asciinema())} cat {shlex.quote(str(prefix))}; sleep 60",
                 tmp_path)
    subprocess.run([str(TMUX), "-S", str(tmux), "resize-window", "-t", player.name,
                    "-x", "100", "-y", "30"], check=True)
    player.wait_for(lambda s: lines_of(s) == lines_of(shown),
                    f"the played screen to match the recorded one:\n{shown}")


def test_kill_9_during_a_recording_leaves_a_valid_cast(tmp_path: Path, tmux: Path) -> None:
    project = copy_project(tmp_path)
    port = free_port()
    cast = tmp_path / "killed.cast"
    terminal = start_recording(tmux, project, cast, port)
    pid = int(subprocess.run(
        [str(TMUX), "-S", str(tmux), "display-message", "-p", "-t", terminal.name,
         "#{pane_pid}"], capture_output=True, text=True, check=True).stdout)
    with httpx.Client(timeout=5) as client:
        for n in range(20):
            client.post(f"http://127.0.0.1:{port}/greet", json={"name": f"n{n}"})
            terminal.keys("3" if n % 2 else "4")
    size = cast.stat().st_size
    os.kill(pid, signal.SIGKILL)
    _header, events = read_cast(cast)
    assert cast.stat().st_size >= size
    assert any(code == "m" for _at, code, _data in events)
    assert "Traces" in plain(play(cast))


def test_motia_dev_refuses_to_record_without_a_workbench(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    done = subprocess.run(
        [*motia_command(), "dev", "--no-tui", "--dir", str(project), "--record", "x.cast"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 2
    assert "--record records the workbench" in done.stderr
    assert not (tmp_path / "x.cast").exists()
