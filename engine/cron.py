"""Cron schedules: next-fire times with croniter, one timer for the nearest, trigger-now.

Six-field expressions put seconds first, as Motia's node-cron does. The scheduler sleeps until
the earliest next fire across all cron steps, so it costs nothing between ticks and picks up
added, changed or removed cron steps on the next `reschedule()`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from engine.steps import Step


def next_fire(expression: str, after: float) -> float:
    """The next fire time (epoch seconds) strictly after `after`."""
    from croniter import croniter  # loaded with the first cron step (`engine.steps`)

    six = len(expression.split()) == 6
    base = datetime.fromtimestamp(after, tz=UTC)
    return croniter(expression, base, second_at_beginning=six).get_next(float)


class CronScheduler:
    """Fires `fire(step, tick)` for each cron step on its schedule (`tick`: the scheduled
    time, which names the tick when several processes schedule the same step)."""

    def __init__(
        self, fire: Callable[[Step, float], None], clock: Callable[[], float] = time.time
    ) -> None:
        self._fire = fire
        self._clock = clock
        self._steps: dict[str, Step] = {}
        self._next: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def reschedule(self, steps: list[Step]) -> None:
        now = self._clock()
        crons = {s.name: s for s in steps if s.type == "cron" and s.cron}
        for name, step in crons.items():
            old = self._steps.get(name)
            if old is None or old.cron != step.cron:
                self._next[name] = next_fire(step.cron or "", now)
        for name in list(self._next):
            if name not in crons:
                del self._next[name]
        self._steps = crons
        self._wake.set()

    def next_fires(self) -> dict[str, float]:
        return dict(self._next)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            if not self._next:
                await self._wake.wait()
                continue
            name, when = min(self._next.items(), key=lambda item: item[1])
            delay = when - self._clock()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                    continue
                except TimeoutError:
                    pass
            step = self._steps.get(name)
            if step is None or self._next.get(name) != when:
                continue
            self._next[name] = next_fire(step.cron or "", max(when, self._clock()))
            self._fire(step, when)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
