"""State: groups of keys holding JSON values, as the API and the workbench read it.

Values are kept as JSON text, so a handler never shares a mutable object with the store (or
with another handler) and a value that is not JSON is refused at `set`, where the mistake is.
Runs change state through effects (engine.effects); this view decodes what the store holds,
committed values and those of finished runs still on their way to the disk.
"""

from __future__ import annotations

from typing import Any

from engine import jsonio
from engine.stores import Persistence


class StateError(ValueError):
    """A value the store cannot hold."""


def encode(value: Any) -> str:
    try:
        return jsonio.dumps(value)
    except TypeError as exc:
        raise StateError(f"state values must be JSON: {exc}") from None


class StateView:
    """Decoded reads of the store's state."""

    def __init__(self, store: Persistence) -> None:
        self._store = store

    def get(self, group: str, key: str) -> Any:
        raw = self._store.state_get(group, key)
        return None if raw is None else jsonio.loads(raw)

    def get_group(self, group: str) -> list[Any]:
        return [jsonio.loads(raw) for raw in self._store.state_group(group).values()]

    def groups(self) -> dict[str, dict[str, Any]]:
        return {
            group: {key: jsonio.loads(raw) for key, raw in items.items()}
            for group, items in self._store.state_groups().items()
        }
