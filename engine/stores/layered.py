"""State and stream items in memory, with committed values kept apart from pending ones.

An embedded adapter answers every read from memory. A unit of work applies to the pending
layer as soon as its run finishes (so other runs see it at once, without waiting for the
disk) and moves to the committed layer when its commit succeeds. When a commit fails, every
unit from that one on has failed, so the whole pending layer is dropped and memory shows
exactly what is on disk again.

Each pending entry remembers the sequence number of the unit that wrote it last; a commit up
to number N settles the entries it wrote unless a later unit wrote them again.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Generic, TypeVar

from engine.effects import (
    StateClear,
    StateDelete,
    StateSet,
    StreamItemDelete,
    StreamItemSet,
)

_PLANE_EFFECTS = frozenset({StateSet, StateDelete, StateClear, StreamItemSet, StreamItemDelete})


class _Pending:
    """One bucket's writes waiting for their commit."""

    __slots__ = ("cleared", "items")

    def __init__(self) -> None:
        self.items: dict[str, tuple[str | None, int]] = {}
        self.cleared = 0
        """The unit that cleared the bucket (0: none): committed items are hidden behind it."""


Bucket = TypeVar("Bucket", bound=Hashable)
"""What a table's items are grouped by: a state group's name, a (stream, group) pair."""


class LayeredTable(Generic[Bucket]):
    """Buckets (a state group, a stream's group) of items held as JSON text."""

    def __init__(self) -> None:
        self.committed: dict[Bucket, dict[str, str]] = {}
        self.pending: dict[Bucket, _Pending] = {}

    # -- reads ------------------------------------------------------------------------

    def get(self, bucket: Bucket, key: str) -> str | None:
        pending = self.pending.get(bucket)
        if pending is not None:
            entry = pending.items.get(key)
            if entry is not None:
                return entry[0]
            if pending.cleared:
                return None
        items = self.committed.get(bucket)
        return None if items is None else items.get(key)

    def bucket(self, bucket: Bucket) -> dict[str, str]:
        pending = self.pending.get(bucket)
        committed = self.committed.get(bucket)
        if pending is None:
            return dict(committed) if committed else {}
        merged = {} if pending.cleared or committed is None else dict(committed)
        for key, (raw, _seq) in pending.items.items():
            if raw is None:
                merged.pop(key, None)
            else:
                merged[key] = raw
        return merged

    def buckets(self) -> list[Bucket]:
        names = set(self.committed) | set(self.pending)
        return [name for name in names if self.bucket(name)]

    # -- pending writes ------------------------------------------------------------------

    def put(self, bucket: Bucket, key: str, raw: str | None, seq: int) -> None:
        pending = self.pending.get(bucket)
        if pending is None:
            pending = self.pending[bucket] = _Pending()
        pending.items[key] = (raw, seq)

    def clear(self, bucket: Bucket, seq: int) -> None:
        pending = self.pending.get(bucket)
        if pending is None:
            pending = self.pending[bucket] = _Pending()
        pending.items.clear()
        pending.cleared = seq

    def drop_pending(self) -> None:
        self.pending.clear()

    def forget_pending_upto(self, seq: int) -> None:
        """Drop the pending writes of units up to `seq`, which the committed layer holds now
        (an adapter that reloaded it from its backend)."""
        for bucket in list(self.pending):
            pending = self.pending[bucket]
            for key, (_raw, written) in list(pending.items.items()):
                if written <= seq:
                    del pending.items[key]
            if 0 < pending.cleared <= seq:
                pending.cleared = 0
            if not pending.items and not pending.cleared:
                del self.pending[bucket]

    def discard(self, bucket: Bucket, key: str | None, seq: int) -> None:
        """Undo one unit's pending write (`key` None: its clear) unless a later unit wrote
        the same place again: for an adapter that learns a single unit was not applied."""
        pending = self.pending.get(bucket)
        if pending is None:
            return
        if key is None:
            if pending.cleared == seq:
                pending.cleared = 0
        else:
            entry = pending.items.get(key)
            if entry is not None and entry[1] == seq:
                del pending.items[key]
        if not pending.items and not pending.cleared:
            del self.pending[bucket]

    # -- committed writes ----------------------------------------------------------------

    def settle_put(self, bucket: Bucket, key: str, raw: str | None, seq: int) -> None:
        if raw is None:
            items = self.committed.get(bucket)
            if items is not None:
                items.pop(key, None)
                if not items:
                    del self.committed[bucket]
        else:
            items = self.committed.get(bucket)
            if items is None:
                items = self.committed[bucket] = {}
            items[key] = raw
        pending = self.pending.get(bucket)
        if pending is not None:
            entry = pending.items.get(key)
            if entry is not None and entry[1] <= seq:
                del pending.items[key]
                if not pending.items and not pending.cleared:
                    del self.pending[bucket]

    def settle_clear(self, bucket: Bucket, seq: int) -> None:
        self.committed.pop(bucket, None)
        pending = self.pending.get(bucket)
        if pending is not None and pending.cleared <= seq:
            pending.cleared = 0
            if not pending.items:
                del self.pending[bucket]


class Planes:
    """The state and stream tables an embedded adapter serves reads from."""

    def __init__(self) -> None:
        self.state: LayeredTable[str] = LayeredTable()
        self.streams: LayeredTable[tuple[str, str]] = LayeredTable()

    def apply_pending(self, effects: Iterable[Any], seq: int) -> bool:
        """Answers whether any effect wrote to memory: most units (a delivery queued and
        another done) write none, and their commit then has nothing to settle."""
        state, streams = self.state, self.streams
        wrote = False
        for effect in effects:
            kind = type(effect)
            if kind not in _PLANE_EFFECTS:
                continue
            wrote = True
            if kind is StateSet:
                state.put(effect.group, effect.key, effect.raw, seq)
            elif kind is StateDelete:
                state.put(effect.group, effect.key, None, seq)
            elif kind is StateClear:
                state.clear(effect.group, seq)
            elif kind is StreamItemSet:
                streams.put((effect.stream, effect.group), effect.id, effect.raw, seq)
            elif kind is StreamItemDelete:
                streams.put((effect.stream, effect.group), effect.id, None, seq)
        return wrote

    def settle(self, effects: Iterable[Any], seq: int) -> None:
        state, streams = self.state, self.streams
        for effect in effects:
            kind = type(effect)
            if kind is StateSet:
                state.settle_put(effect.group, effect.key, effect.raw, seq)
            elif kind is StateDelete:
                state.settle_put(effect.group, effect.key, None, seq)
            elif kind is StateClear:
                state.settle_clear(effect.group, seq)
            elif kind is StreamItemSet:
                streams.settle_put((effect.stream, effect.group), effect.id, effect.raw, seq)
            elif kind is StreamItemDelete:
                streams.settle_put((effect.stream, effect.group), effect.id, None, seq)

    def drop_pending(self) -> None:
        self.state.drop_pending()
        self.streams.drop_pending()

    def discard(self, effects: Iterable[Any], seq: int) -> None:
        state, streams = self.state, self.streams
        for effect in effects:
            kind = type(effect)
            if kind is StateSet or kind is StateDelete:
                state.discard(effect.group, effect.key, seq)
            elif kind is StateClear:
                state.discard(effect.group, None, seq)
            elif kind is StreamItemSet or kind is StreamItemDelete:
                streams.discard((effect.stream, effect.group), effect.id, seq)

    # -- reads in the protocol's shape ---------------------------------------------------

    def state_get(self, group: str, key: str) -> str | None:
        return self.state.get(group, key)

    def state_group(self, group: str) -> dict[str, str]:
        return self.state.bucket(group)

    def state_groups(self) -> dict[str, dict[str, str]]:
        return {group: self.state.bucket(group) for group in self.state.buckets()}

    def stream_get(self, stream: str, group: str, item_id: str) -> str | None:
        return self.streams.get((stream, group), item_id)

    def stream_group(self, stream: str, group: str) -> dict[str, str]:
        return self.streams.bucket((stream, group))

    def stream_groups(self, stream: str) -> list[str]:
        return sorted(group for name, group in self.streams.buckets() if name == stream)
