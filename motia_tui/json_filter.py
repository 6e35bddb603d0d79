"""The response filter: a JSONPath (`$.items[0].id`, `$..id`, `$.items[?(@.n > 2)]`) over a
JSON answer, and where each match sits in the pretty-printed text so the view can mark it.

The paths are read by `jsonpath-ng` (its extended grammar, with filters); `pretty_with_places`
prints exactly what `json_editor.pretty` prints while noting where every value starts and ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jsonpath_ng import DatumInContext, Fields, Index, Root, This
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext import parse

Key = tuple[str | int, ...]
"""Where a value is: the keys and indices from the document's root."""
INDENT = 2


class FilterError(ValueError):
    """A path `jsonpath-ng` cannot read, with its reason."""


@dataclass(frozen=True)
class Match:
    path: str
    value: Any
    key: Key | None
    """None when the match is not a place in the document (a computed value)."""


def _key(datum: DatumInContext) -> Key | None:
    parts: list[str | int] = []
    node: DatumInContext | None = datum
    while node is not None:
        step = node.path
        if isinstance(step, Fields) and len(step.fields) == 1:
            parts.append(step.fields[0])
        elif isinstance(step, Index) and len(step.indices) == 1:
            parts.append(step.indices[0])
        elif not isinstance(step, Root | This):
            return None
        node = node.context
    return tuple(reversed(parts))


def _written(key: Key) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in key)


def find(document: Any, expression: str) -> list[Match]:
    """Every value `expression` selects, in document order."""
    try:
        path = parse(expression)
    except JSONPathError as exc:
        raise FilterError(f"{expression!r} is not a JSONPath: {exc}") from None
    matches = []
    for datum in path.find(document):
        key = _key(datum)
        matches.append(Match(_written(key) if key is not None else str(datum.full_path),
                             datum.value, key))
    return matches


def pretty_with_places(value: Any) -> tuple[str, dict[Key, tuple[int, int]]]:
    """The pretty text of `value` and, per key, the character range of its value."""
    out: list[str] = []
    places: dict[Key, tuple[int, int]] = {}
    size = 0

    def write(text: str) -> None:
        nonlocal size
        out.append(text)
        size += len(text)

    def emit(node: Any, key: Key, depth: int) -> None:
        start = size
        inner = " " * (INDENT * (depth + 1))
        if isinstance(node, dict) and node:
            write("{\n")
            for index, (name, item) in enumerate(node.items()):
                write(f"{inner}{json.dumps(name, ensure_ascii=False)}: ")
                emit(item, (*key, name), depth + 1)
                write(",\n" if index < len(node) - 1 else "\n")
            write(" " * (INDENT * depth) + "}")
        elif isinstance(node, list) and node:
            write("[\n")
            for index, item in enumerate(node):
                write(inner)
                emit(item, (*key, index), depth + 1)
                write(",\n" if index < len(node) - 1 else "\n")
            write(" " * (INDENT * depth) + "]")
        else:
            write(json.dumps(node, ensure_ascii=False))
        places[key] = (start, size)

    emit(value, (), 0)
    return "".join(out), places


def line_ranges(text: str, start: int, end: int) -> list[tuple[int, int, int]]:
    """The character range `start:end` of `text` as (row, start byte, end byte) a line,
    the way `TextArea` highlights count."""
    ranges = []
    row = text.count("\n", 0, start)
    line_start = text.rfind("\n", 0, start) + 1
    position = start
    while position < end:
        line_end = text.find("\n", position)
        if line_end == -1 or line_end > end:
            line_end = end
        begin = len(text[line_start:position].encode("utf-8"))
        stop = begin + len(text[position:line_end].encode("utf-8"))
        if stop > begin:
            ranges.append((row, begin, stop))
        row += 1
        position = line_end + 1
        line_start = position
    return ranges
