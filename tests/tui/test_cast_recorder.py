"""The asciicast writer on its own: whole lines, ordered times, markers, resizes, hiding, and a
file that is still a valid cast after `kill -9`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cast_support import output_of, plain, play, read_cast

from motia_tui.recording import CastRecorder, RecordingError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_events_in_order_with_relative_times(tmp_path: Path) -> None:
    clock = FakeClock()
    recorder = CastRecorder(tmp_path / "a.cast", title="test", term="xterm-256color",
                            clock=clock)
    recorder.start(100, 30)
    clock.now = 100.5
    recorder.output("héllo ".encode()[:2])  # a character cut in two by the terminal write
    recorder.output("héllo ".encode()[2:])
    clock.now = 101.0
    recorder.marker("Traces")
    recorder.resize(100, 30)  # unchanged: no event
    recorder.resize(90, 28)
    clock.now = 102.0
    recorder.hide()
    recorder.output(b"\x1b[1;1Hhidden frame", frame=True)
    recorder.output(b"\x1b[?25l")  # a mode change is kept while hidden
    clock.now = 112.0
    recorder.show()
    clock.now = 112.5
    recorder.output(b"shown", frame=True)
    recorder.close()

    header, events = read_cast(tmp_path / "a.cast")
    assert header["width"] == 100 and header["height"] == 30
    assert header["title"] == "test" and header["env"]["TERM"] == "xterm-256color"
    assert abs(header["timestamp"] - time.time()) < 60
    assert events == [
        [0.5, "o", "h"],
        [0.5, "o", "éllo "],
        [1.0, "m", "Traces"],
        [1.0, "r", "90x28"],
        [2.0, "o", "\x1b[?25l"],
        [2.5, "o", "shown"],
    ]
    assert "hidden frame" not in output_of(events)
    assert "héllo" in plain(play(tmp_path / "a.cast"))


def test_an_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RecordingError, match="cannot write"):
        CastRecorder(blocker / "x.cast", title="t")


RECORD_FOREVER = textwrap.dedent(
    """
    import sys, time
    from motia_tui.recording import CastRecorder

    recorder = CastRecorder(sys.argv[1], title="killed")
    recorder.start(80, 24)
    n = 0
    while True:
        n += 1
        recorder.output(f"line {n} ünïcödé ━━━\\r\\n".encode() * 20)
        if n % 50 == 0:
            recorder.marker(f"m{n}")
        time.sleep(0.0005)
    """
)


def test_kill_9_leaves_a_valid_cast(tmp_path: Path) -> None:
    cast = tmp_path / "killed.cast"
    child = subprocess.Popen([sys.executable, "-c", RECORD_FOREVER, str(cast)])
    try:
        deadline = time.monotonic() + 30
        while not cast.exists() or cast.stat().st_size < 400_000:
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.01)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    _header, events = read_cast(cast)
    assert len(events) > 100
    assert "line 1 ünïcödé" in plain(play(cast))


def test_request_secrets_never_reach_the_cast(tmp_path: Path) -> None:
    recorder = CastRecorder(tmp_path / "s.cast", title="test", term="xterm-256color")
    recorder.start(80, 24)
    recorder.output(b"before: s3cr3t-value\r\n")
    recorder.mask(["s3cr3t-value", "abc"])  # too short to mask without ruining the cast
    recorder.output(b"\x1b[1;1Htoken=s3cr3t-value abc\r\n")
    recorder.close()
    shown = output_of(read_cast(tmp_path / "s.cast")[1])
    assert "before: s3cr3t-value" in shown  # masking starts when the environment is picked
    assert "token=************ abc" in shown
