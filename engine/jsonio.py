"""JSON in and out on the hot paths.

Every run writes a span, every emit encodes its data and every response encodes its body, so
the encoder is orjson: several times faster than the standard library. Dict keys that are not
strings are written as strings, as `json.dumps` does, so step code behaves the same either way.
Each encoder tries orjson's plain form first and only then the one with options (non-string
keys, a fallback for other types): the options cost a third more on every call, and nearly
every value has string keys and JSON types only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
loads: Callable[[str | bytes], Any] = orjson.loads

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
_LONG_DIGITS = re.compile(rb"\d{19,}")


class WideInteger(ValueError):
    """An integer beyond 64 bits: orjson would read it as a float, and Node steps lose it."""

    def __init__(self, field: str) -> None:
        super().__init__(f"the integer at {field} does not fit in 64 bits")
        self.field = field


def loads_exact(raw: bytes) -> Any:
    """JSON whose integers all fit in 64 bits, else `WideInteger` naming the first that
    does not. Only a document with a run of 19 digits or more is read a second time."""
    value = orjson.loads(raw)
    if _LONG_DIGITS.search(raw) is not None:
        try:
            field = wide_integer_field(json.loads(raw))
        except RecursionError:
            raise ValueError("nested too deeply to check its integers") from None
        if field is not None:
            raise WideInteger(field)
    return value


def wide_integer_field(value: Any, path: str = "") -> str | None:
    """The dotted path (`(root)` at the top) of the first integer beyond 64 bits, or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (path or "(root)") if not INT_MIN <= value <= INT_MAX else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = wide_integer_field(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def dumps(value: Any) -> str:
    """Strict: a value that is not JSON raises TypeError (state, emits, stream items)."""
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        text = orjson.dumps(value, option=_OPTIONS).decode()
    if "null" in text and _has_non_finite(value):
        raise TypeError("NaN and infinite floats are not JSON")
    return text


def _has_non_finite(value: Any) -> bool:
    """orjson writes NaN and infinities as null, which would change the value silently;
    only output that holds a null needs this walk."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


def dumps_bytes(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return orjson.dumps(value, default=default, option=_OPTIONS)


def dumps_lenient(value: Any) -> str:
    """For traces and logs: anything that is not JSON is written as its repr, and a value
    nested deeper than the encoder goes (255 levels) is cut short with a marker, so history
    can always be written."""
    return dumps_lenient_bytes(value).decode()


def dumps_lenient_bytes(value: Any) -> bytes:
    """`dumps_lenient` as bytes."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        pass
    try:
        return orjson.dumps(value, default=repr, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return orjson.dumps(cut(value, CUT_DEPTH), default=repr, option=_OPTIONS)


CUT_DEPTH = 200
CUT_MARKER = "[cut: nested deeper than 200 levels]"


def cut(value: Any, depth: int) -> Any:
    """`value` with whatever lies `depth` levels down replaced by `CUT_MARKER`."""
    if isinstance(value, dict):
        if depth <= 0:
            return CUT_MARKER
        return {key: cut(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if depth <= 0:
            return CUT_MARKER
        return [cut(item, depth - 1) for item in value]
    return value
