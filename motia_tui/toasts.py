"""Handler failures gathered between two toasts, one line a step however often it failed.

A step that fails on every request at 500 requests a second would otherwise raise a toast
per failure; the workbench shows one toast every few seconds saying which steps failed and
how often (one line for twelve failures of NotifyCustomer), with the last error of the step
that failed most.
"""

from __future__ import annotations

from dataclasses import dataclass

TIMES = "\u00d7"  # the multiplication sign: "NotifyCustomer failed x12", as on flow edges
SHOWN_STEPS = 3
"""Steps named in one toast; the rest are counted."""


@dataclass
class _Failures:
    count: int
    last_message: str


class FailureDigest:
    """Failures since the last toast, per step: memory is bounded by the number of steps."""

    def __init__(self) -> None:
        self._steps: dict[str, _Failures] = {}

    def __bool__(self) -> bool:
        return bool(self._steps)

    def add(self, step: str, message: str) -> None:
        failures = self._steps.get(step)
        if failures is None:
            self._steps[step] = _Failures(1, message)
        else:
            failures.count += 1
            failures.last_message = message

    def take(self) -> str:
        """The toast's text, most frequent first; forgets what it reported."""
        ranked = sorted(self._steps.items(), key=lambda item: -item[1].count)
        self._steps = {}
        lines = [
            f"{step} failed" + (f" {TIMES}{failures.count}" if failures.count > 1 else "")
            for step, failures in ranked[:SHOWN_STEPS]
        ]
        if ranked:
            lines[0] += f": {ranked[0][1].last_message}"
        if len(ranked) > SHOWN_STEPS:
            others = len(ranked) - SHOWN_STEPS
            lines.append(f"(and {others} more step{'s' if others != 1 else ''})")
        return "\n".join(lines)
