"""What a span keeps of a request or a response that is too big to keep whole.

Every trace's spans live in memory (the newest `memory_window` traces) and in the store, so a
span holding a 10 MB body costs 10 MB per trace twice over. Past `span_body_bytes` a span
keeps a marked cut instead: `{"$cut": {"bytes": original size, "limit": L}, "head": the first
L bytes as text}` for a body, and the headers that fit with the same `"$cut"` entry for
headers. The sizes are counted where the bytes already are, so a request under the limit
pays nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CUT_KEY = "$cut"


def cut_body(raw: bytes, limit: int) -> dict[str, Any]:
    """The first `limit` bytes of a body as text, marked with the body's real size."""
    return {
        CUT_KEY: {"bytes": len(raw), "limit": limit, "setting": "span_body_bytes"},
        "head": raw[:limit].decode("utf-8", errors="replace"),
    }


def cut_headers(headers: Mapping[str, str], size: int, limit: int) -> dict[str, Any]:
    """The headers that fit in `limit` bytes, in order, marked with the real total size."""
    kept: dict[str, Any] = {}
    used = 0
    for name, value in headers.items():
        used += len(name) + len(value)
        if used > limit:
            break
        kept[name] = value
    kept[CUT_KEY] = {"bytes": size, "limit": limit, "setting": "span_body_bytes"}
    return kept
