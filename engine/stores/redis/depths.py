"""How many events wait per subscription, read from the topics' streams and the retry set.

An entry stays on its topic's stream until the step it is addressed to acknowledges it (the
other steps' groups only skip it), so the entries addressed to a step are that subscription's
undelivered and pending events alike.
"""

from __future__ import annotations

from typing import Any

from engine import jsonio

DEPTH_PAGE = 1_000


def queue_depths(client: Any, prefix: str) -> dict[tuple[str, str], int]:
    """Entries are read a page at a time, so a long queue never blocks Redis for long."""
    depths: dict[tuple[str, str], int] = {}
    for topic in client.smembers(f"{prefix}:topics"):
        key = f"{prefix}:topic:{topic}"
        start = "-"
        while True:
            rows = client.xrange(key, start, "+", count=DEPTH_PAGE)
            for _entry, fields in rows:
                edge = (topic, fields["step"])
                depths[edge] = depths.get(edge, 0) + 1
            if len(rows) < DEPTH_PAGE:
                break
            start = "(" + rows[-1][0]
    for member in client.zrange(f"{prefix}:retry", 0, -1):
        topic, fields = jsonio.loads(member)
        edge = (topic, fields[3])
        depths[edge] = depths.get(edge, 0) + 1
    return depths
