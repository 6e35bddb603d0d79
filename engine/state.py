"""The state store: groups of keys holding JSON values.

Values are kept as JSON text, so a handler never shares a mutable object with the store (or
with another handler) and a value that is not JSON is refused at `set`, where the mistake is.
Two adapters share one protocol: `MemoryState` keeps nothing, `SqliteState` also writes every
change into the run's batch, which the store commits together with the run's other effects.
"""

from __future__ import annotations

from typing import Any, Protocol

from engine import jsonio
from engine.store import Statement, Store


class StateError(ValueError):
    """A value the store cannot hold."""


def encode(value: Any) -> str:
    try:
        return jsonio.dumps(value)
    except TypeError as exc:
        raise StateError(f"state values must be JSON: {exc}") from None


class StateStore(Protocol):
    """What the context and the introspection API need from a state adapter.

    `batch` collects the statements that make a change durable; adapters that persist
    elsewhere (or nowhere) may leave it untouched.
    """

    def get(self, group: str, key: str) -> Any: ...

    def set(self, group: str, key: str, value: Any, batch: list[Statement]) -> Any: ...

    def delete(self, group: str, key: str, batch: list[Statement]) -> Any: ...

    def get_group(self, group: str) -> list[Any]: ...

    def clear(self, group: str, batch: list[Statement]) -> None: ...

    def groups(self) -> dict[str, dict[str, Any]]: ...


class MemoryState:
    """State in a dict; gone when the process ends."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, str]] = {}

    def get(self, group: str, key: str) -> Any:
        raw = self._groups.get(group, {}).get(key)
        return None if raw is None else jsonio.loads(raw)

    def set(self, group: str, key: str, value: Any, batch: list[Statement]) -> Any:
        raw = encode(value)
        self._groups.setdefault(group, {})[key] = raw
        self._persist_set(group, key, raw, batch)
        return jsonio.loads(raw)

    def delete(self, group: str, key: str, batch: list[Statement]) -> Any:
        items = self._groups.get(group)
        if items is None or key not in items:
            return None
        raw = items.pop(key)
        if not items:
            del self._groups[group]
        self._persist_delete(group, key, batch)
        return jsonio.loads(raw)

    def get_group(self, group: str) -> list[Any]:
        return [jsonio.loads(raw) for raw in self._groups.get(group, {}).values()]

    def clear(self, group: str, batch: list[Statement]) -> None:
        if self._groups.pop(group, None) is not None:
            self._persist_clear(group, batch)

    def groups(self) -> dict[str, dict[str, Any]]:
        return {
            group: {key: jsonio.loads(raw) for key, raw in items.items()}
            for group, items in self._groups.items()
        }

    def _persist_set(self, group: str, key: str, raw: str, batch: list[Statement]) -> None:
        """Nothing to persist in memory."""

    def _persist_delete(self, group: str, key: str, batch: list[Statement]) -> None:
        """Nothing to persist in memory."""

    def _persist_clear(self, group: str, batch: list[Statement]) -> None:
        """Nothing to persist in memory."""


class SqliteState(MemoryState):
    """State served from memory and made durable through the run's batch."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        for group, key, raw in store.read("SELECT grp, key, value FROM state"):
            self._groups.setdefault(group, {})[key] = raw

    def _persist_set(self, group: str, key: str, raw: str, batch: list[Statement]) -> None:
        batch.append(
            ("INSERT OR REPLACE INTO state (grp, key, value) VALUES (?, ?, ?)", (group, key, raw))
        )

    def _persist_delete(self, group: str, key: str, batch: list[Statement]) -> None:
        batch.append(("DELETE FROM state WHERE grp = ? AND key = ?", (group, key)))

    def _persist_clear(self, group: str, batch: list[Statement]) -> None:
        batch.append(("DELETE FROM state WHERE grp = ?", (group,)))
