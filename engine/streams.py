"""Stream definitions and the stream store.

A stream is a named collection of groups of items, declared in a `*_stream.py` file. Steps
write items through `context.streams.<name>`, as effects of their run (streams with
`storageType: "custom"` excepted: their store has no transaction and is written when called).
Every change gets a per-item timestamp that never goes backwards and is handed to the change
listeners (the WebSocket side and the engine event stream), so live clients see each change
once and in order.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import jsonio
from engine.schema import Schema, to_schema
from engine.steps import StepError
from engine.stores import Persistence

STREAM_KEYS = {"name", "schema", "baseConfig", "canAccess", "description"}
CREATE, UPDATE, DELETE, EVENT = "create", "update", "delete", "event"


@dataclass(slots=True)
class StreamDefinition:
    name: str
    file: Path
    line: int
    schema: Schema | None
    storage_type: str = "default"
    can_access: Callable[..., Any] | None = None
    custom: Any = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self, project_dir: Path | None = None) -> dict[str, Any]:
        file = self.file
        if project_dir is not None and file.is_relative_to(project_dir):
            file = file.relative_to(project_dir)
        return {
            "name": self.name,
            "file": str(file),
            "line": self.line,
            "storageType": self.storage_type,
            "schema": self.schema.json_schema if self.schema else None,
        }


def build_stream(config: Any, file: Path, line: int) -> StreamDefinition:
    """Validate a stream file's `config`; raise StepError naming the file and line."""
    if not isinstance(config, dict):
        raise StepError(file, line, "a stream file's 'config' must be a dict")
    name = config.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise StepError(file, line, f"stream 'name' must be an identifier, got {name!r}")
    try:
        schema = to_schema(config.get("schema"))
    except ValueError as exc:
        raise StepError(file, line, f"stream {name!r}: 'schema': {exc}") from None
    base = config.get("baseConfig") or {"storageType": "default"}
    storage = base.get("storageType", "default") if isinstance(base, dict) else None
    if storage not in ("default", "custom"):
        raise StepError(
            file,
            line,
            f"stream {name!r}: baseConfig.storageType must be "
            f"'default' or 'custom', got {storage!r}",
        )
    can_access = config.get("canAccess")
    if can_access is not None and not callable(can_access):
        raise StepError(file, line, f"stream {name!r}: 'canAccess' must be a function")
    custom = None
    if storage == "custom":
        factory = base.get("factory") or config.get("factory")
        if not callable(factory):
            raise StepError(
                file,
                line,
                f"stream {name!r}: custom storage needs "
                "baseConfig.factory, a function returning the stream's store",
            )
        try:
            custom = factory()
        except Exception as exc:
            raise StepError(file, line, f"stream {name!r}: factory raised {exc!r}") from None
        missing = [op for op in ("get", "set", "delete", "get_group") if not hasattr(custom, op)]
        if missing:
            raise StepError(file, line, f"stream {name!r}: custom store lacks {', '.join(missing)}")
    warnings = [
        f"unknown stream config key {k!r}"
        for k in config
        if k not in STREAM_KEYS and k != "factory"
    ]
    return StreamDefinition(name, file, line, schema, storage, can_access, custom, warnings)


ChangeListener = Callable[[dict[str, Any]], None]


class StreamStore:
    """Items of every default-storage stream, read from the store, and their change stamps."""

    def __init__(self, store: Persistence) -> None:
        self._store = store
        self._stamps: dict[tuple[str, str, str], int] = {}
        self.listeners: list[ChangeListener] = []

    def stamp(self, stream: str, group: str, item_id: str | None) -> int:
        """A millisecond timestamp, strictly increasing for one item."""
        now = int(time.time() * 1000)
        key = (stream, group, item_id or "")
        last = self._stamps.get(key, 0)
        stamp = now if now > last else last + 1
        self._stamps[key] = stamp
        return stamp

    def get(self, stream: str, group: str, item_id: str) -> Any:
        raw = self._store.stream_get(stream, group, item_id)
        return None if raw is None else jsonio.loads(raw)

    def get_group(self, stream: str, group: str) -> list[Any]:
        return [jsonio.loads(raw) for raw in self._store.stream_group(stream, group).values()]

    def groups(self, stream: str) -> list[str]:
        return self._store.stream_groups(stream)

    def notify(self, change: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(change)


async def call_custom(store: Any, op: str, *args: Any) -> Any:
    """Call a custom stream store's operation, sync or async, by Motia's or Python's name."""
    method = getattr(store, op, None) or getattr(store, "getGroup" if op == "get_group" else op)
    result = method(*args)
    if inspect.isawaitable(result):
        result = await result
    return result
