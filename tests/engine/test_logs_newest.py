"""Log queries deeper than the memory ring still end with the newest records, although the
writer thread may not have written those to disk yet."""

from __future__ import annotations

from engine.logs import newer_than


def rec(n: int, time: int | None = None) -> dict[str, object]:
    return {"time": n if time is None else time, "msg": "same message", "n": n}


def test_memory_records_after_the_newest_on_disk_are_added() -> None:
    stored = [rec(n) for n in range(5)]
    recent = [rec(n) for n in range(3, 9)]
    assert [r["n"] for r in newer_than(stored, recent)] == [5, 6, 7, 8]


def test_records_of_one_millisecond_are_told_apart_by_their_fields() -> None:
    stored = [rec(n, time=7) for n in range(5)]
    recent = [rec(n, time=7) for n in range(9)]
    assert [r["n"] for r in newer_than(stored, recent)] == [5, 6, 7, 8]


def test_nothing_on_disk_leaves_the_memory_records() -> None:
    recent = [rec(n) for n in range(3)]
    assert newer_than([], recent) == recent
