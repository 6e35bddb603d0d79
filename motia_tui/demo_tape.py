"""The demo tape language of `motia demo`: text in, a `Tape` out, nothing run.

`parse_tape` is pure: a `Tape` (its settings and its actions, each with its line number), or a
`TapeSyntaxError` listing every bad line, so a typo on line 40 is reported before anything
starts. `motia_tui.demo` runs what it answers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SIZE = (100, 30)
MIN_SIZE = (80, 24)
MAX_SIZE = (400, 200)
DEFAULT_WAIT_S = 10.0
DEFAULT_TYPING_S = 0.05
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
NAMED_KEYS = {
    "enter": "enter", "return": "enter", "tab": "tab", "escape": "escape", "esc": "escape",
    "space": "space", "backspace": "backspace", "delete": "delete", "insert": "insert",
    "up": "up", "down": "down", "left": "left", "right": "right", "home": "home",
    "end": "end", "pageup": "pageup", "pgup": "pageup", "pagedown": "pagedown",
    "pgdn": "pagedown", **{f"f{n}": f"f{n}" for n in range(1, 25)},
}
MODIFIERS = ("ctrl", "shift", "alt", "meta")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")
TYPED = {"\n": "enter", "\t": "tab"}
_SIZE = re.compile(r"^(\d+)x(\d+)$")
_TOPIC = re.compile(r"^[^\s{}\[\]\"']+$")


# -- the tape: plain data -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    line: int
    keys: tuple[str, ...]
    """Textual key names (`enter`, `ctrl+p`, `f1`, `3`)."""


@dataclass(frozen=True, slots=True)
class Type:
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Sleep:
    line: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Wait:
    line: int
    text: str
    timeout: float = DEFAULT_WAIT_S


@dataclass(frozen=True, slots=True)
class Request:
    line: int
    method: str
    path: str
    body: Any = None
    has_body: bool = False


@dataclass(frozen=True, slots=True)
class Emit:
    line: int
    topic: str
    data: Any


@dataclass(frozen=True, slots=True)
class Screenshot:
    line: int
    path: str


@dataclass(frozen=True, slots=True)
class Hide:
    line: int


@dataclass(frozen=True, slots=True)
class Show:
    line: int


Action = Key | Type | Sleep | Wait | Request | Emit | Screenshot | Hide | Show


@dataclass(slots=True)
class Tape:
    """A parsed tape. Paths are as written (relative to the tape's folder)."""

    actions: list[Action] = field(default_factory=list)
    cast: str | None = None
    gif: str | None = None
    gif_line: int = 0
    size: tuple[int, int] = DEFAULT_SIZE
    port: int | None = None
    typing_s: float = DEFAULT_TYPING_S


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    message: str


class TapeSyntaxError(Exception):
    """Every line of a tape that cannot be run, reported together."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__("; ".join(f"line {e.line}: {e.message}" for e in errors))
        self.errors = errors


class _Bad(Exception):
    """One line's problem, while parsing it."""


def parse_tape(text: str) -> Tape:
    """The tape's settings and actions; `TapeSyntaxError` lists every line that is wrong."""
    tape = Tape()
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        command, _, rest = line.partition(" ")
        rest = rest.strip()
        try:
            parse = _COMMANDS.get(command)
            if parse is None:
                raise _Bad(_unknown(command))
            parse(tape, number, rest)
            if command in _SETTINGS or command == "Output":
                key = command if command != "Output" else f"Output {_suffix(rest)}"
                if key in seen:
                    raise _Bad(f"{key} is already set on line {seen[key]}")
                seen[key] = number
        except _Bad as exc:
            errors.append(LineError(number, str(exc)))
    if errors:
        raise TapeSyntaxError(errors)
    return tape


def _unknown(command: str) -> str:
    lowered = {name.lower(): name for name in _COMMANDS}
    hint = lowered.get(command.lower())
    if hint:
        return f"unknown command {command!r} (commands are case-sensitive: {hint})"
    return f"unknown command {command!r} (one of {', '.join(sorted(_COMMANDS))})"


def _suffix(rest: str) -> str:
    return Path(rest).suffix.lower()


def _output(tape: Tape, number: int, rest: str) -> None:
    path = _one_word(rest, "Output takes a file name: Output demo.cast (or demo.gif)")
    suffix = _suffix(path)
    if suffix == ".cast":
        tape.cast = path
    elif suffix == ".gif":
        tape.gif = path
        tape.gif_line = number
    else:
        raise _Bad(f"Output writes a .cast or a .gif, not {path!r}")


def _size(tape: Tape, _number: int, rest: str) -> None:
    match = _SIZE.match(rest)
    if match is None:
        raise _Bad(f"Size takes COLUMNSxROWS, like 100x30, not {rest!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        raise _Bad(f"Size {rest} is smaller than the workbench's {MIN_SIZE[0]}x{MIN_SIZE[1]}")
    if width > MAX_SIZE[0] or height > MAX_SIZE[1]:
        raise _Bad(f"Size {rest} is larger than {MAX_SIZE[0]}x{MAX_SIZE[1]}")
    tape.size = (width, height)


def _port(tape: Tape, _number: int, rest: str) -> None:
    if not rest.isdigit() or not 1 <= int(rest) <= 65535:
        raise _Bad(f"Port takes a port number (1-65535), not {rest!r}")
    tape.port = int(rest)


def _typing_speed(tape: Tape, _number: int, rest: str) -> None:
    tape.typing_s = _duration(rest, "TypingSpeed")


def _key(tape: Tape, number: int, rest: str) -> None:
    words = rest.split()
    if not words:
        raise _Bad("Key takes one or more keys: Key 3, Key Enter, Key ctrl+p")
    tape.actions.append(Key(number, tuple(key_name(word) for word in words)))


def key_name(word: str) -> str:
    """A tape's key (`Enter`, `ctrl+p`, `F1`, `3`, `?`) as Textual names it."""
    if len(word) == 1:
        return word
    parts = word.split("+")
    if word.endswith("+"):
        parts = [*parts[:-2], "+"]
    *modifiers, base = parts
    for modifier in modifiers:
        if modifier.lower() not in MODIFIERS:
            raise _Bad(f"unknown modifier {modifier!r} in {word!r} (one of {', '.join(MODIFIERS)})")
    if len(base) == 1:
        name = base.lower() if modifiers and base.isalpha() else base
    elif base.lower() in NAMED_KEYS:
        name = NAMED_KEYS[base.lower()]
    else:
        raise _Bad(f"unknown key {word!r} (a character, or one of Enter, Tab, Escape, Space, "
                   "Backspace, Delete, Up, Down, Left, Right, Home, End, PageUp, PageDown, F1-F24,"
                   " with ctrl+, shift+ or alt+ before it if you like)")
    return "+".join([*(m.lower() for m in modifiers), name])


def _type(tape: Tape, number: int, rest: str) -> None:
    text, after = _quoted(rest, 'Type takes quoted text: Type "tea"')
    if after:
        raise _Bad(f"unexpected {after!r} after the text")
    tape.actions.append(Type(number, text))


def _sleep(tape: Tape, number: int, rest: str) -> None:
    tape.actions.append(Sleep(number, _duration(rest, "Sleep")))


def _wait(tape: Tape, number: int, rest: str) -> None:
    text, after = _quoted(rest, 'Wait takes quoted text and a timeout if you like: '
                                'Wait "Traces" 5s')
    if not text:
        raise _Bad("Wait needs some text to wait for")
    timeout = _duration(after, "Wait's timeout") if after else DEFAULT_WAIT_S
    tape.actions.append(Wait(number, text, timeout))


def _request(tape: Tape, number: int, rest: str) -> None:
    method, _, rest = rest.partition(" ")
    path, _, body_text = rest.strip().partition(" ")
    if method.upper() not in METHODS or method != method.upper():
        raise _Bad(f"Request takes a method ({', '.join(METHODS)}) then a path, not {method!r}")
    if not path.startswith("/"):
        raise _Bad(f"Request's path starts with /, like /orders, not {path!r}")
    body_text = body_text.strip()
    if not body_text:
        tape.actions.append(Request(number, method, path))
        return
    tape.actions.append(Request(number, method, path, _json(body_text, "the body"), True))


def _emit(tape: Tape, number: int, rest: str) -> None:
    topic, _, data_text = rest.partition(" ")
    if not topic or not _TOPIC.match(topic):
        raise _Bad('Emit takes a topic then its JSON data: Emit order.placed {"item": "tea"}')
    data = _json(data_text.strip(), "the data") if data_text.strip() else {}
    tape.actions.append(Emit(number, topic, data))


def _screenshot(tape: Tape, number: int, rest: str) -> None:
    path = _one_word(rest, "Screenshot takes a file name: Screenshot step-1.svg")
    if _suffix(path) != ".svg":
        raise _Bad(f"Screenshot writes an .svg, not {path!r}")
    tape.actions.append(Screenshot(number, path))


def _hide(tape: Tape, number: int, rest: str) -> None:
    if rest:
        raise _Bad("Hide takes nothing after it")
    tape.actions.append(Hide(number))


def _show(tape: Tape, number: int, rest: str) -> None:
    if rest:
        raise _Bad("Show takes nothing after it")
    tape.actions.append(Show(number))


_SETTINGS = {"Size", "Port", "TypingSpeed"}
_COMMANDS = {
    "Output": _output, "Size": _size, "Port": _port, "TypingSpeed": _typing_speed,
    "Key": _key, "Type": _type, "Sleep": _sleep, "Wait": _wait, "Request": _request,
    "Emit": _emit, "Screenshot": _screenshot, "Hide": _hide, "Show": _show,
}


def _one_word(rest: str, usage: str) -> str:
    if rest.startswith(('"', "'")):
        text, after = _quoted(rest, usage)
        if after or not text:
            raise _Bad(usage)
        return text
    if not rest or len(rest.split()) != 1:
        raise _Bad(usage)
    return rest


def _quoted(rest: str, usage: str) -> tuple[str, str]:
    """A "double-quoted" (JSON escapes) or 'single-quoted' (as is) string, and what follows."""
    if rest.startswith("'"):
        end = rest.find("'", 1)
        if end < 0:
            raise _Bad("the text has no closing '")
        return rest[1:end], rest[end + 1:].strip()
    if not rest.startswith('"'):
        raise _Bad(usage)
    try:
        text, end = json.JSONDecoder().raw_decode(rest)
    except ValueError:
        raise _Bad('the text has no closing " (or a bad \\ escape)') from None
    return str(text), rest[end:].strip()


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Bad(f"{what} is not JSON: {exc.msg} at column {exc.colno}") from None


def _duration(text: str, what: str) -> float:
    match = _DURATION.match(text.strip())
    if match is None:
        raise _Bad(f"{what} takes a duration like 500ms, 2s or 1.5s, not {text!r}")
    value = float(match.group(1))
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]


# -- running a tape ---------------------------------------------------------------------------
