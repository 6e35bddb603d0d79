"""Comparing a run with a recorded one, where ids and times are bound to differ.

A value recorded in a trace holds ids made from that trace (`context.trace_id[:12]`, span
ids, uuids) and times; a run made again holds new ones. `loosen` replaces those parts of a
recorded value with `ANY_ID` and `ANY_TIME`, and `differences` compares a new value with a
loosened one, naming every place where they part.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
MIN_ID_PART = 8
"""The shortest slice of a trace's own id taken for an id made from it."""
TIME_WINDOW_MS = 24 * 3600 * 1000
"""A number this close to the trace's start is taken for a time (epoch ms or s)."""


class Loosely:
    """Stands for any value of a kind in an expected value; its repr is its name in code."""

    def __init__(self, name: str, kind: str, accepts: Callable[[Any], bool]) -> None:
        self.name = name
        self.kind = kind
        self.accepts = accepts

    def __repr__(self) -> str:
        return self.name


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_time(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or (
        isinstance(value, str) and ISO_TIME.match(value) is not None
    )


ANY_ID = Loosely("ANY_ID", "an id", _is_id)
ANY_TIME = Loosely("ANY_TIME", "a time", _is_time)


def loosen(value: Any, ids: Collection[str], started_ms: float | None) -> Any:
    """`value` with the ids made from `ids` (the trace's own) and times near `started_ms`
    replaced by `ANY_ID` and `ANY_TIME`."""
    if isinstance(value, Mapping):
        return {key: loosen(item, ids, started_ms) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [loosen(item, ids, started_ms) for item in value]
    if isinstance(value, str):
        if is_own_id(value, ids) or UUID.match(value):
            return ANY_ID
        if ISO_TIME.match(value):
            return ANY_TIME
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and started_ms:
        for scale in (1, 1000):
            if abs(value * scale - started_ms) < TIME_WINDOW_MS:
                return ANY_TIME
    return value


def is_own_id(value: str, ids: Collection[str]) -> bool:
    """Whether `value` is made from one of `ids`: a slice of one, or holding one whole."""
    return any(
        (len(value) >= MIN_ID_PART and value in own) or (own and own in value) for own in ids
    )


def differences(actual: Any, expected: Any, where: str = "") -> list[str]:
    """Every place where `actual` parts from `expected`, one line each."""
    here = where or "the value"
    if isinstance(expected, Loosely):
        return [] if expected.accepts(actual) else [
            f"{here}: expected {expected.kind}, got {actual!r}"
        ]
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{here}: expected an object, got {actual!r}"]
        found: list[str] = []
        for key, item in expected.items():
            if key not in actual:
                found.append(f"{where}[{key!r}]: missing (expected {item!r})")
            else:
                found.extend(differences(actual[key], item, f"{where}[{key!r}]"))
        found.extend(
            f"{where}[{key!r}]: not expected, got {actual[key]!r}"
            for key in actual
            if key not in expected
        )
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list | tuple):
            return [f"{here}: expected a list, got {actual!r}"]
        found = []
        for index, item in enumerate(expected):
            if index >= len(actual):
                found.append(f"{where}[{index}]: missing (expected {item!r})")
            else:
                found.extend(differences(actual[index], item, f"{where}[{index}]"))
        found.extend(
            f"{where}[{index}]: not expected, got {actual[index]!r}"
            for index in range(len(expected), len(actual))
        )
        return found
    if actual != expected or isinstance(actual, bool) != isinstance(expected, bool):
        return [f"{here}: expected {expected!r}, got {actual!r}"]
    return []


def assert_like(actual: Any, expected: Any, what: str = "the value") -> None:
    """Fail, naming every difference, unless `actual` matches `expected`."""
    found = differences(actual, expected)
    if found:
        lines = "\n".join(f"  {line}" for line in found)
        raise AssertionError(f"{what}: not as the trace recorded them\n{lines}")
