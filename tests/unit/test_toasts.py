"""Failures between two toasts: one line a step, most frequent first, bounded by steps."""

from __future__ import annotations

from motia_tui.toasts import FailureDigest


def test_repeats_of_one_step_are_one_line_with_a_count_and_the_last_error() -> None:
    digest = FailureDigest()
    for n in range(12):
        digest.add("NotifyCustomer", f"refused {n}")
    assert digest.take() == "NotifyCustomer failed \u00d712: refused 11"
    assert not digest


def test_several_steps_most_frequent_first_and_the_rest_counted() -> None:
    digest = FailureDigest()
    for step, times in (("A", 1), ("B", 5), ("C", 2), ("D", 1), ("E", 1)):
        for _ in range(times):
            digest.add(step, f"{step} broke")
    assert digest.take().splitlines() == [
        "B failed \u00d75: B broke",
        "C failed \u00d72",
        "A failed",
        "(and 2 more steps)",
    ]
