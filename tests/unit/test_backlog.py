"""The hidden pane's backlog: events in order until the bound, then a reload instead."""

from __future__ import annotations

from motia_tui.backlog import Backlog


def events(*names: str) -> list[dict[str, object]]:
    return [{"type": "log", "data": {"msg": name}} for name in names]


def test_releases_every_held_event_in_order_once() -> None:
    backlog = Backlog(limit=10)
    backlog.hold(events("a", "b"))
    backlog.hold(events("c"))
    assert backlog.release() == events("a", "b", "c")
    assert backlog.release() == []


def test_past_the_bound_it_holds_nothing_and_asks_for_a_reload() -> None:
    backlog = Backlog(limit=3)
    backlog.hold(events("a", "b"))
    backlog.hold(events("c", "d"))
    assert backlog.events == []
    backlog.hold(events("e"))
    assert backlog.events == []
    assert backlog.release() is None
    backlog.hold(events("f"))
    assert backlog.release() == events("f")


def test_exactly_at_the_bound_it_still_holds() -> None:
    backlog = Backlog(limit=3)
    backlog.hold(events("a", "b", "c"))
    assert backlog.release() == events("a", "b", "c")


def test_clear_forgets_an_overflow() -> None:
    backlog = Backlog(limit=1)
    backlog.hold(events("a", "b"))
    backlog.clear()
    assert backlog.release() == []


def test_overflow_drops_what_is_held_and_asks_for_a_reload() -> None:
    backlog = Backlog(limit=10)
    backlog.hold(events("a"))
    backlog.overflow()
    backlog.hold(events("b"))
    assert backlog.release() is None
