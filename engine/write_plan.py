"""Ordering one transaction's statements so SQLite can run many rows per call.

Runs interleave their writes (a span, the deliveries they emitted, the delivery they
finished), so in arrival order hardly two neighbours share their SQL and every row is a call
of its own. Each call lets go of the GIL and must win it back from the busy event loop, which
costs more than the row. The plan regroups a transaction without changing its outcome:

- Tables are independent within a transaction (no triggers, no foreign keys), so each
  table's statements are taken on their own.
- In a table with a declared row key, statements on different rows commute. A statement goes
  to the first layer after the previous statement on its row; each layer groups its rows by
  SQL. A statement whose row cannot be told (clearing a state group) is a barrier: it gets a
  layer of its own, and later statements come after it.
- A table without a row key (logs, whose ids count up in order) keeps its order; neighbours
  with the same SQL still merge.

Merged rows then go to SQLite as one JSON parameter (`bulk_form`), so SQLite walks them
without Python.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

Statement = tuple[str, Sequence[Any]]
Merged = tuple[str, list[Sequence[Any]]]
"""One SQL statement and every row it runs with, in order."""
KeyOf = Callable[[Sequence[Any]], Any]

ROW_KEYS: dict[str, tuple[str, ...]] = {
    "state": ("grp", "key"),
    "stream_items": ("stream", "grp", "id"),
    "queue": ("id",),
    "dlq": ("id",),
    "spans": ("trace_id", "span_id"),
}
"""The columns that name one row, per table (primary keys; spans by trace and span id)."""

_INSERT = re.compile(r"(INSERT (?:OR \w+ )?INTO (\w+) \(([^)]*)\)) VALUES \(([?, ]+)\)", re.S)
_DELETE = re.compile(r"(DELETE FROM (\w+))(?: WHERE (.*))?", re.S)
_UPDATE = re.compile(r"UPDATE (\w+) SET (.*) WHERE (.*)", re.S)
_CONDITION = re.compile(r"(\w+) = \?")


def _equality_columns(where: str) -> list[str] | None:
    """The columns of a WHERE clause made only of `column = ?` joined by AND, in order."""
    columns = []
    for part in where.split(" AND "):
        match = _CONDITION.fullmatch(part.strip())
        if match is None:
            return None
        columns.append(match.group(1))
    return columns


def _where_key(table: str, where: str, offset: int) -> KeyOf | None:
    """The row a WHERE clause names, when it is exactly equality on the table's key."""
    columns = _equality_columns(where)
    key = ROW_KEYS.get(table, ())
    if columns is None or not key or sorted(columns) != sorted(key):
        return None
    return itemgetter(*(offset + columns.index(column) for column in key))


def shape(sql: str) -> tuple[str, KeyOf | None] | None:
    """The table a statement writes and how to find the row it touches (None when it
    touches many); None when the plan does not understand the statement, and then the
    transaction runs in order."""
    if match := _INSERT.fullmatch(sql):
        table = match.group(2)
        columns = [c.strip() for c in match.group(3).split(",")]
        key = ROW_KEYS.get(table)
        if key is None or not all(c in columns for c in key):
            return table, None
        return table, itemgetter(*(columns.index(c) for c in key))
    if match := _DELETE.fullmatch(sql):
        table, where = match.group(2), match.group(3)
        return table, None if where is None else _where_key(table, where, 0)
    if match := _UPDATE.fullmatch(sql):
        table, assignments, where = match.groups()
        return table, _where_key(table, where, assignments.count("?"))
    return None


_shapes: dict[str, tuple[str, KeyOf | None] | None] = {}


def plan(statements: Sequence[Statement]) -> list[Merged]:
    """The statements as runs of one SQL each, with the same outcome as running them in
    order. This runs on the writer thread holding the GIL, so it is kept to dict lookups."""
    tables: dict[str, _Table] = {}
    shapes = _shapes
    for sql, params in statements:
        try:
            found = shapes[sql]
        except KeyError:
            found = shapes[sql] = shape(sql)
        if found is None:
            return in_order(statements)
        table = tables.get(found[0])
        if table is None:
            table = tables[found[0]] = _Table(found[0] in ROW_KEYS)
        table.add(found[1], sql, params)
    return [run for table in tables.values() for run in table.runs()]


class _Table:
    """One table's statements, in layers (keyed tables) or in arrival order (others)."""

    __slots__ = ("floor", "keyed", "last_layer", "layers", "ordered")

    def __init__(self, keyed: bool) -> None:
        self.keyed = keyed
        self.layers: list[dict[str, list[Sequence[Any]]]] = [{}]
        self.last_layer: dict[Any, int] = {}
        self.floor = 0
        self.ordered: list[Statement] = []

    def add(self, key_of: KeyOf | None, sql: str, params: Sequence[Any]) -> None:
        if not self.keyed:
            self.ordered.append((sql, params))
            return
        layers = self.layers
        if key_of is None:
            level = len(layers)
            self.floor = level + 1
        else:
            key = key_of(params)
            previous = self.last_layer.get(key)
            level = self.floor if previous is None or previous < self.floor else previous + 1
            self.last_layer[key] = level
        while len(layers) <= level:
            layers.append({})
        rows = layers[level].get(sql)
        if rows is None:
            layers[level][sql] = [params]
        else:
            rows.append(params)

    def runs(self) -> list[Merged]:
        if not self.keyed:
            return in_order(self.ordered)
        return [run for layer in self.layers for run in layer.items()]


def in_order(statements: Sequence[Statement]) -> list[Merged]:
    """Neighbouring statements with the same SQL, merged; nothing moves."""
    runs: list[Merged] = []
    for sql, params in statements:
        if runs and runs[-1][0] == sql:
            runs[-1][1].append(params)
        else:
            runs.append((sql, [params]))
    return runs


@functools.lru_cache(maxsize=64)
def bulk_form(sql: str) -> str | None:
    """The statement rewritten to take all its rows as one JSON array (`INSERT ... SELECT`
    or `DELETE ... IN` over `json_each`), or None when it has no such form."""
    if match := _INSERT.fullmatch(sql):
        count = match.group(4).count("?")
        values = ", ".join(f"value->>{i}" for i in range(count))
        return f"{match.group(1)} SELECT {values} FROM json_each(?)"
    if (match := _DELETE.fullmatch(sql)) and match.group(3) is not None:
        columns = _equality_columns(match.group(3))
        if columns is None:
            return None
        values = ", ".join(f"value->>{i}" for i in range(len(columns)))
        target = columns[0] if len(columns) == 1 else f"({', '.join(columns)})"
        return f"{match.group(1)} WHERE {target} IN (SELECT {values} FROM json_each(?))"
    return None
