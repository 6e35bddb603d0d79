"""The demo tape language: every command, every error with its line, nothing run."""

from __future__ import annotations

import pytest

from motia_tui.demo_tape import (
    DEFAULT_SIZE,
    DEFAULT_TYPING_S,
    DEFAULT_WAIT_S,
    Emit,
    Hide,
    Key,
    Request,
    Screenshot,
    Show,
    Sleep,
    TapeSyntaxError,
    Type,
    Wait,
    parse_tape,
)


def errors_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(TapeSyntaxError) as caught:
        parse_tape(text)
    return [(error.line, error.message) for error in caught.value.errors]


def test_every_command_parses_with_its_line() -> None:
    tape = parse_tape(
        "# a comment\n"
        "Output out/demo.cast\n"
        "Output demo.gif\n"
        "Size 120x40\n"
        "Port 4567\n"
        "TypingSpeed 10ms\n"
        "\n"
        "Key 3\n"
        "Key Enter tab ESC ctrl+P shift+Tab F1 f12 ? j PageDown\n"
        'Type "tea \\"green\\"\\n"\n'
        "Type 'say \"hi\"'\n"
        "Sleep 500ms\n"
        "Sleep 2\n"
        "Sleep 1.5s\n"
        'Wait "PlaceOrder"\n'
        'Wait "order placed" 3s\n'
        'Request POST /orders {"item": "tea", "quantity": 2}\n'
        "Request GET /default\n"
        'Emit order.placed {"id": "o1"}\n'
        "Emit tick\n"
        "Screenshot shots/step-1.svg\n"
        "Hide\n"
        "Show\n"
        "   # an indented comment\n"
    )
    assert tape.cast == "out/demo.cast"
    assert tape.gif == "demo.gif" and tape.gif_line == 3
    assert tape.size == (120, 40)
    assert tape.port == 4567
    assert tape.typing_s == pytest.approx(0.01)
    assert tape.actions == [
        Key(8, ("3",)),
        Key(9, ("enter", "tab", "escape", "ctrl+p", "shift+tab", "f1", "f12", "?", "j",
                "pagedown")),
        Type(10, 'tea "green"\n'),
        Type(11, 'say "hi"'),
        Sleep(12, 0.5),
        Sleep(13, 2.0),
        Sleep(14, 1.5),
        Wait(15, "PlaceOrder", DEFAULT_WAIT_S),
        Wait(16, "order placed", 3.0),
        Request(17, "POST", "/orders", {"item": "tea", "quantity": 2}, True),
        Request(18, "GET", "/default"),
        Emit(19, "order.placed", {"id": "o1"}),
        Emit(20, "tick", {}),
        Screenshot(21, "shots/step-1.svg"),
        Hide(22),
        Show(23),
    ]


def test_single_quotes_take_text_as_is() -> None:
    assert parse_tape("Type 'a \\n b'").actions == [Type(1, "a \\n b")]


def test_defaults_when_the_tape_sets_nothing() -> None:
    tape = parse_tape("Key q\n")
    assert tape.size == DEFAULT_SIZE
    assert tape.cast is None and tape.gif is None and tape.port is None
    assert tape.typing_s == DEFAULT_TYPING_S


def test_every_bad_line_is_reported_with_its_number() -> None:
    errors = errors_of(
        "Size 100x30\n"
        "Kye 3\n"
        "key 3\n"
        "Size 90x30\n"
        "Sleep soon\n"
        'Wait "never closed\n'
        'Wait "x" forever\n'
        "Request FETCH /x\n"
        "Request post /x\n"
        "Request GET orders\n"
        "Request POST /orders {item: tea}\n"
        "Emit\n"
        "Emit topic {not json\n"
        "Screenshot shot.png\n"
        "Output demo.mp4\n"
        "Size 40x10\n"
        "Key hyper+x\n"
        "Key Entr\n"
        "Key\n"
        "Hide now\n"
        "Port 70000\n"
        "Type tea\n"
        'Wait ""\n'
        "Size big\n"
    )
    lines = [line for line, _message in errors]
    assert lines == list(range(2, 25))
    messages = dict(errors)
    assert "unknown command 'Kye'" in messages[2]
    assert "case-sensitive: Key" in messages[3]
    assert "already set on line 1" in messages[4]
    assert "duration" in messages[5]
    assert "no closing" in messages[6]
    assert "not 'forever'" in messages[7]
    assert "method" in messages[8] and "method" in messages[9]
    assert "starts with /" in messages[10]
    assert "not JSON" in messages[11] and "column" in messages[11]
    assert "topic" in messages[12]
    assert "not JSON" in messages[13]
    assert ".svg" in messages[14]
    assert ".cast or a .gif" in messages[15]
    assert "smaller" in messages[16]
    assert "modifier 'hyper'" in messages[17]
    assert "unknown key 'Entr'" in messages[18]
    assert "one or more keys" in messages[19]
    assert "nothing after" in messages[20]
    assert "1-65535" in messages[21]
    assert "quoted text" in messages[22]
    assert "some text" in messages[23]
    assert "COLUMNSxROWS" in messages[24]


def test_a_second_output_of_the_same_kind_is_an_error() -> None:
    assert errors_of("Output a.cast\nOutput a.gif\nOutput b.cast\n") == [
        (3, "Output .cast is already set on line 1")
    ]
