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
    """For traces and logs: anything that is not JSON is written as its repr."""
    return orjson.dumps(value, default=repr, option=_OPTIONS).decode()
