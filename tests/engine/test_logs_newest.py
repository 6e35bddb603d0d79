"""Log queries deeper than the memory ring still end with the newest records, although the
writer thread may not have written those to disk yet."""

from __future__ import annotations

from engine.logs import cluster_merged, newer_than


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


def test_a_shared_stores_records_are_ordered_by_time_and_this_workers_shown_once() -> None:
    """Worker A's batch reached Redis before worker B's older one; A's ring still holds its
    own record, written, and one not yet written: each shows once, in time order."""
    b_hello = {"time": 1, "msg": "hello from hal", "step": "Hello"}
    a_greet = {"time": 2, "msg": "greeted hal", "step": "Greet"}
    a_later = {"time": 3, "msg": "greeted hal", "step": "Greet"}
    stored = [dict(a_greet), dict(b_hello)]  # arrival order
    merged = cluster_merged(stored, [a_greet, a_later])
    assert [(r["time"], r["msg"]) for r in merged] == [
        (1, "hello from hal"), (2, "greeted hal"), (3, "greeted hal")
    ]


def test_alike_records_of_a_shared_store_are_each_left_out_once() -> None:
    stored = [rec(n, time=7) for n in range(3)]
    recent = [rec(n, time=7) for n in range(5)]
    assert [r["n"] for r in cluster_merged(stored, recent)] == [0, 1, 2, 3, 4]
