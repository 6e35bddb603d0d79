"""The worker channel's framing: one JSON object per line, both ways.

Messages carry a type `t`. The engine sends `load` (a file; answered `loaded` with its config
or `failed` with the place of the error), `run` (a handler call; answered `done` or `error`),
`reply` (the answer to a context call) and `forget` (a deleted file). The worker sends
`ready`, `call` (a context operation of a run), `log` (a record or a printed line, bound to
its run) and the answers above.
"""

from __future__ import annotations

from typing import Any

from engine import jsonio

LINE_LIMIT = 64 * 1024 * 1024
"""The longest message either side may send: a request or state value larger than this is
refused by the reader rather than buffered without bound."""


def encode(message: dict[str, Any]) -> bytes:
    return jsonio.dumps_bytes(message, default=repr) + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    message = jsonio.loads(line)
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise ValueError(f"not a worker message: {line[:200]!r}")
    return message
