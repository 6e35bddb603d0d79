"""Stream change timestamps: what Motia's client needs to apply every change."""

from __future__ import annotations

import time
from itertools import pairwise

from engine.streams import StreamStore


def test_one_item_never_gets_the_same_millisecond_twice() -> None:
    """The client drops an update stamped no newer than the last it applied to that item, so
    a burst of changes to one item within a millisecond must still count up."""
    store = StreamStore(None)
    stamps = [store.stamp("todo", "g1", "a") for _ in range(1_000)]
    assert all(earlier < later for earlier, later in pairwise(stamps))


def test_a_burst_over_many_items_keeps_stamps_on_the_clock() -> None:
    """Counting up per item, not for the whole store: a thousand items changed within a
    millisecond or two must not run the next item's stamp ahead of real time."""
    store = StreamStore(None)
    for n in range(1_000):
        store.stamp("todo", "g1", f"item-{n}")
    assert abs(store.stamp("todo", "g1", "fresh") - time.time() * 1000) < 100
