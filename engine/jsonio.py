"""JSON in and out on the hot paths.

Every run writes a span, every emit encodes its data and every response encodes its body, so
the encoder is orjson: several times faster than the standard library. Dict keys that are not
strings are written as strings, as `json.dumps` does, so step code behaves the same either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
loads: Callable[[str | bytes], Any] = orjson.loads


def dumps(value: Any) -> str:
    """Strict: a value that is not JSON raises TypeError (state, emits, stream items)."""
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
    return orjson.dumps(value, default=default, option=_OPTIONS)


def dumps_lenient(value: Any) -> str:
    """For traces and logs: anything that is not JSON is written as its repr, and a value
    nested deeper than the encoder goes (255 levels) is cut short with a marker, so history
    can always be written."""
    try:
        return orjson.dumps(value, default=repr, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps(cut(value, CUT_DEPTH), default=repr, option=_OPTIONS).decode()


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
