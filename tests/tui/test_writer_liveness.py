"""A terminal that stops reading must not stall the server sharing the workbench's loop.

The real `motia tui` runs in a subprocess on a pseudo-terminal. Once it is up, the test stops
reading the terminal and keeps the workbench busy redrawing (requests make traces and log
lines), far past what the pty buffer and any writer queue can hold. Every request must
still be answered within a second. Then reading resumes, and `q` must still quit with 0.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import httpx
from pane_harness import copy_project

from motia_tui.writer import FrameWriter

COLUMNS, ROWS = 120, 40
LOAD_S = 4.0
LIVENESS_S = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_on_pty(args: list[str], cwd: Path) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
    process = subprocess.Popen(
        args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True
    )
    os.close(slave)
    return process, master


def read_for(master: int, seconds: float) -> bytes:
    """Read whatever the terminal shows for a while (the reader of a healthy terminal)."""
    chunks = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunks.append(os.read(master, 65536))
            except OSError:
                break
    return b"".join(chunks)


def pending_output(master: int) -> int:
    """Bytes the terminal has been sent but nobody has read."""
    raw = fcntl.ioctl(master, termios.FIONREAD, struct.pack("i", 0))
    return int(struct.unpack("i", raw)[0])


def test_writer_drops_frames_keeps_control_and_asks_for_a_repaint() -> None:
    read_end, write_end = os.pipe()
    repaint = threading.Event()
    writer = FrameWriter(write_end, repaint.set, max_frames=2)
    writer.start()
    try:
        started = time.perf_counter()
        for n in range(200):
            writer.write(f"frame {n} " + "x" * 65_536)
            writer.seal(frame=True)
        writer.write("\x1b[?25h")
        writer.seal(frame=False)
        assert time.perf_counter() - started < 2, "sealing a frame waited on the pipe"
        assert writer.frames_dropped >= 190

        received = bytearray()
        deadline = time.monotonic() + 10
        while not (repaint.is_set() and b"\x1b[?25h" in received):
            assert time.monotonic() < deadline, "the writer never drained"
            ready, _, _ = select.select([read_end], [], [], 0.05)
            if ready:
                received += os.read(read_end, 1 << 16)
        assert len(received) < 4 * 65_536, "dropped frames were written after all"
    finally:
        writer.stop(timeout=1)
        os.close(read_end)
        os.close(write_end)


def test_frozen_terminal_does_not_stall_http(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    port = free_port()
    process, master = spawn_on_pty(
        [sys.executable, "-m", "motia_tui.cli", "tui", "--dir", str(project), "--port", str(port)],
        project,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        with httpx.Client(timeout=LIVENESS_S) as client:
            while True:
                read_for(master, 0.1)
                try:
                    if client.get(f"{url}/__motia/steps").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, read_for(master, 0.5).decode(errors="replace")
                assert time.monotonic() < deadline, "the workbench never started serving"
            os.write(master, b"4")
            read_for(master, 0.5)

            # The terminal freezes: nobody reads `master` from here on.
            slowest = 0.0
            answered = 0
            stop = time.monotonic() + LOAD_S
            while time.monotonic() < stop:
                started = time.monotonic()
                response = client.post(f"{url}/greet", json={"name": "x" * 200})
                slowest = max(slowest, time.monotonic() - started)
                assert response.status_code == 200
                answered += 1
            assert pending_output(master) > 0, "the terminal was never left unread"
            assert slowest < LIVENESS_S, f"a request took {slowest:.2f}s with the terminal frozen"
            assert answered > 100

        # The terminal thaws: reading resumes, the whole screen is painted again (the tab
        # bar never changes, so only a full repaint sends it), and `q` still quits cleanly.
        stale = pending_output(master)
        shown = bytearray()
        drained = threading.Event()

        def drain() -> None:
            while not drained.is_set():
                shown.extend(read_for(master, 0.1))

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        deadline = time.monotonic() + 10
        while b"2 Endpoints" not in shown[stale:]:
            assert time.monotonic() < deadline, "the screen was not repainted after the thaw"
            time.sleep(0.05)
        os.write(master, b"q")
        assert process.wait(timeout=15) == 0
        drained.set()
        reader.join()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
