"""JSON in and out on the hot paths.

Every run writes a span, every emit encodes its data and every response encodes its body, so
the encoder is orjson: several times faster than the standard library. Dict keys that are not
strings are written as strings, as `json.dumps` does, so step code behaves the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
loads: Callable[[str | bytes], Any] = orjson.loads


def dumps(value: Any) -> str:
    """Strict: a value that is not JSON raises TypeError (state, emits, stream items)."""
    return orjson.dumps(value, option=_OPTIONS).decode()


def dumps_bytes(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    return orjson.dumps(value, default=default, option=_OPTIONS)


def dumps_lenient(value: Any) -> str:
    """For traces and logs: anything that is not JSON is written as its repr."""
    return orjson.dumps(value, default=repr, option=_OPTIONS).decode()
