"""Logs pane filter: parsing, matching combinations, speed, and record formatting."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest

from motia_tui.widgets import log_filter
from motia_tui.widgets.log_filter import LogFilter, format_record, parse_filter


def record(
    msg: str = "hello",
    level: str = "info",
    step: str | None = "MakeGreeting",
    trace: str | None = "abcdef0123456789",
    flows: tuple[str, ...] = ("greetings",),
    **extra: Any,
) -> dict[str, Any]:
    return {
        "level": level,
        "time": 1_700_000_000_123,
        "msg": msg,
        "traceId": trace,
        "step": step,
        "flows": list(flows),
        **extra,
    }


def test_parse_tokens_and_free_text() -> None:
    parsed = parse_filter("level:warn  step:Make flow:greetings trace:abc failed  to send")
    assert parsed == LogFilter(
        min_level="warn",
        steps=("Make",),
        flows=("greetings",),
        traces=("abc",),
        text="failed to send",
    )
    assert not parsed.is_empty and not parsed.literal and not parsed.invert


@pytest.mark.parametrize("text", ["", "   ", "step:", "level: trace: flow:", "!", "level:debug"])
def test_empty_filters(text: str) -> None:
    parsed = parse_filter(text)
    assert parsed.is_empty
    assert parsed.matches(record()) and parsed.matches({})


@pytest.mark.parametrize(
    ("token", "level"),
    [("level:w", "warn"), ("LEVEL:Warning", "warn"), ("level:e", "error"), ("level:info", "info")],
)
def test_level_prefixes_and_aliases(token: str, level: str) -> None:
    assert parse_filter(token).min_level == level


def test_unknown_level_is_kept_as_text() -> None:
    parsed = parse_filter("level:loud")
    assert parsed.min_level is None and parsed.text == "level:loud"
    assert not parsed.matches(record())


def test_minimum_level() -> None:
    warn = parse_filter("level:warn")
    assert [warn.matches(record(level=lv)) for lv in ("debug", "info", "warn", "error")] == [
        False,
        False,
        True,
        True,
    ]
    assert not warn.matches(record(level="weird"))  # unknown levels rank as info
    assert parse_filter("level:info level:error").min_level == "error"  # AND: the stricter


def test_step_flow_and_trace_terms() -> None:
    assert parse_filter("step:makegreeting").matches(record())
    assert not parse_filter("step:Make").matches(record())  # exact name, any case
    assert not parse_filter("step:MakeGreeting").matches(record(step=None))
    assert parse_filter("flow:GREETINGS").matches(record(flows=("other", "greetings")))
    assert not parse_filter("flow:greetings").matches(record(flows=()))
    assert parse_filter("trace:ABC").matches(record())
    assert not parse_filter("trace:bcd").matches(record())  # a prefix, not a substring
    assert not parse_filter("trace:abc").matches(record(trace=None))


def test_repeated_terms_and_together() -> None:
    assert not parse_filter("step:A step:B").matches(record(step="A"))
    assert parse_filter("step:A step:a").matches(record(step="A"))
    both = parse_filter("flow:one flow:two")
    assert both.matches(record(flows=("one", "two", "three")))
    assert not both.matches(record(flows=("one",)))
    assert parse_filter("trace:ab trace:abcd").matches(record())
    assert not parse_filter("trace:ab trace:ax").matches(record())


def test_text_is_a_case_insensitive_regex() -> None:
    parsed = parse_filter("fail(ed|ure)")
    assert parsed.matches(record("Delivery FAILED"))
    assert parsed.matches(record("a failure"))
    assert not parsed.matches(record("failing"))
    assert parse_filter("^hel+o$").matches(record("hello"))


def test_invalid_regex_falls_back_to_literal() -> None:
    parsed = parse_filter("count[")
    assert parsed.literal and parsed.text == "count["
    assert parsed.matches(record("bad count[3"))
    assert not parsed.matches(record("count 3"))
    assert parse_filter("a(b").matches(record("A(B)"))


def test_text_searches_extra_fields_but_not_standard_ones() -> None:
    assert parse_filter("alice").matches(record("greeted", user={"name": "Alice"}))
    assert parse_filter('"retries": 3').matches(record("x", retries=3))
    assert not parse_filter("MakeGreeting").matches(record("x"))  # step is not free text
    assert not parse_filter("greetings").matches(record("x"))
    assert parse_filter("ünï").matches(record("x", name="ÜNÏ"))  # JSON keeps unicode


def test_inverted_text() -> None:
    parsed = parse_filter("!heartbeat")
    assert parsed.invert and parsed.text == "heartbeat"
    assert not parsed.matches(record("heartbeat ok"))
    assert not parsed.matches(record("x", kind="heartbeat"))
    assert parsed.matches(record("request served"))
    assert parse_filter("! heart").text == "heart"


def test_combination_of_every_term() -> None:
    parsed = parse_filter("level:warn step:Send flow:orders trace:42 !retry")
    hit = record("card declined", "error", "Send", "42ff", ("orders",))
    assert parsed.matches(hit)
    assert not parsed.matches({**hit, "level": "info"})
    assert not parsed.matches({**hit, "step": "Other"})
    assert not parsed.matches({**hit, "flows": ["billing"]})
    assert not parsed.matches({**hit, "traceId": "43"})
    assert not parsed.matches({**hit, "msg": "will retry"})


def test_no_json_without_a_text_term(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(value: Any) -> str:
        raise AssertionError("JSON built without a text term")

    monkeypatch.setattr(log_filter, "_to_json", forbidden)
    for text in ("", "level:warn", "step:MakeGreeting flow:greetings trace:abc"):
        parse_filter(text).matches(record(level="error", payload={"big": list(range(100))}))
    assert parse_filter("hello").matches(record("hello", payload=1))  # message decides first


def test_a_million_records_filter_exactly() -> None:
    records = [record(level="info", n=1), record(level="error", n=2)] * 500_000
    for text, expected in (("", 1_000_000), ("level:warn", 500_000)):
        matches = parse_filter(text).matches
        assert sum(1 for r in records if matches(r)) == expected


def test_format_record_segments() -> None:
    rec = record("hello world", "warn", user="ada", n=3, tags=["a"], note="two words")
    assert format_record(rec, tz=UTC) == [
        ("22:13:20.123", "log-time"),
        (" ", ""),
        ("WARN ", "log-warn"),
        (" ", ""),
        ("MakeGreeting", "log-step"),
        (" ", ""),
        ("abcdef01", "log-trace"),
        (" ", ""),
        ("hello world", "log-msg"),
        (" ", ""),
        ("user=", "log-key"),
        ("ada", "log-value"),
        (" ", ""),
        ("n=", "log-key"),
        ("3", "log-value"),
        (" ", ""),
        ("tags=", "log-key"),
        ('["a"]', "log-value"),
        (" ", ""),
        ("note=", "log-key"),
        ('"two words"', "log-value"),
    ]


def test_format_record_sparse_and_odd_records() -> None:
    line = "".join(text for text, _ in format_record({"msg": "a\nb\r\nc"}, tz=UTC))
    assert line == "--:--:--.--- INFO  a↵b↵c"
    segments = format_record(record(level="fatal", step=None, trace=None, flag=True), tz=UTC)
    assert segments[2] == ("FATAL", "log-info")
    assert "".join(t for t, _ in segments) == "22:13:20.123 FATAL hello flag=true"
    assert format_record(record(level="error"), tz=UTC)[2] == ("ERROR", "log-error")


def test_format_record_uses_local_time_by_default() -> None:
    assert format_record(record())[0][0].endswith(".123")
