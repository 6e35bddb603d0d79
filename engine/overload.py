"""Refusals for want of capacity, as opposed to a handler's own failure.

A run the engine could not give what it needs (a thread for a plain `def` handler, room in a
subscription's queue for what it emitted) failed through no fault of its input: an api step
answers 503 (try again later) rather than 500, an event step retries by its policy.
"""

from __future__ import annotations


class Unavailable(RuntimeError):
    """The engine lacks the capacity to run or keep this attempt right now."""


class QueueFull(Unavailable):
    """A run emitted more than a subscription's queue may hold."""
