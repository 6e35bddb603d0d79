"""A unit of work as the commit script's operations: effects in, a JSON-ready dict out.

Deliveries in Redis are entries of a stream per topic; the adapter remembers, for each one
this worker has claimed, where the entry is (`Claim`), so that finishing the delivery becomes
the acknowledgement of that entry and failing it a retry entry in the sorted set (or, for a
fifo step, an attempt count kept beside the entry, which stays this worker's).

An entry carries its event in three fields: `id`, `step` (the step it is addressed to, which
the other steps' groups skip) and `e`, the rest joined by tabs with the data last
(`seq`, trace, parent span, attempt, data): each field the commit script handles costs it a
Lua string, and the reader splits `e` once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from engine import jsonio
from engine.effects import (
    DeadLettered,
    DeadLetterRemoved,
    DeliveryDone,
    DeliveryFailed,
    Effect,
    EventQueued,
    QueuePurged,
    StateClear,
    StateDelete,
    StateSet,
    StreamItemDelete,
    StreamItemSet,
)


@dataclass(slots=True)
class Claim:
    """An entry this worker read from a topic's stream and has not settled yet."""

    stream_key: str
    group: str
    entry_id: str
    queued: EventQueued
    fifo: bool

    def address(self, mode: str) -> list[str]:
        """`mode`: "ack" (acknowledge and delete the entry), "retry" (the same, for a
        delivery queued again after it failed), "hold" (a fifo retry: the entry stays this
        worker's); a fifo entry's ack ("fack") drops its attempt count too."""
        if mode == "ack" and self.fifo:
            mode = "fack"
        return [self.stream_key, self.group, self.entry_id, mode, self.queued.id]


def queue_op(queued: EventQueued, attempt: int, not_before: float) -> list[Any]:
    delay_ms = max(0, int((not_before - time.time()) * 1000)) if not_before else 0
    packed = (
        f"{queued.seq}\t{queued.trace_id}\t{queued.parent_span or ''}\t{attempt}\t"
        f"{queued.data_json}"
    )
    return ["q", queued.topic, queued.step, queued.id, packed, delay_ms]


def queued_from(topic: str, step: str, fields: dict[str, str]) -> EventQueued:
    """The event an entry of a topic's stream carries (see the module's note). Entries
    queued by the release before, one field each, still read: a worker upgraded while events
    wait in Redis handles them."""
    packed = fields.get("e")
    if packed is None:
        return EventQueued(
            fields["id"], int(fields["seq"]), topic, step, fields["data"], fields["trace"],
            fields.get("parent") or None, int(fields["attempt"]), 0.0,
        )
    seq, trace, parent, attempt, data = packed.split("\t", 4)
    return EventQueued(
        fields["id"], int(seq), topic, step, data, trace, parent or None, int(attempt), 0.0
    )


def dead_letter_json(dead: DeadLettered) -> str:
    return jsonio.dumps(
        [
            dead.id,
            dead.topic,
            dead.step,
            dead.data_json,
            dead.error,
            dead.traceback,
            dead.attempts,
            dead.trace_id,
            dead.failed_at,
        ]
    )


def dead_letter_from(raw: str) -> DeadLettered:
    return DeadLettered(*jsonio.loads(raw))


def build_unit(
    seq: int,
    effects: Sequence[Effect],
    claims: dict[str, Claim],
) -> list[Any]:
    """The script's form of one unit: `[seq, acks, ops, changes, notices]`, where `changes`
    is the JSON (without its brackets) of the ops the changes channel carries, made here so
    the script only joins the applied units' pieces, and `notices` is filled when the batch
    is sent. Claims the unit settles leave `claims` (a fifo retry's stays: its entry is
    still this worker's)."""
    acks: list[list[str]] = []
    ops: list[list[Any]] = []
    effect: Any
    for effect in effects:
        kind = type(effect)
        if kind is StateSet:
            ops.append(["s", effect.group, effect.key, effect.raw])
        elif kind is StateDelete:
            ops.append(["d", effect.group, effect.key])
        elif kind is StateClear:
            ops.append(["c", effect.group])
        elif kind is StreamItemSet:
            ops.append(["i", effect.stream, effect.group, effect.id, effect.raw])
        elif kind is StreamItemDelete:
            ops.append(["j", effect.stream, effect.group, effect.id])
        elif kind is EventQueued:
            ops.append(queue_op(effect, effect.attempt, effect.not_before))
        elif kind is DeliveryDone:
            claim = claims.pop(effect.id, None)
            if claim is not None:
                acks.append(claim.address("ack"))
        elif kind is DeliveryFailed:
            claim = claims.get(effect.id)
            if claim is None:
                continue
            if claim.fifo:
                claim.queued.attempt = effect.attempt
                acks.append(claim.address("hold"))
                ops.append(["h", effect.id, str(effect.attempt)])
            else:
                del claims[effect.id]
                acks.append(claim.address("retry"))
                ops.append(queue_op(claim.queued, effect.attempt, effect.not_before))
        elif kind is DeadLettered:
            claim = claims.pop(effect.id, None)
            if claim is not None:
                acks.append(claim.address("ack"))
            ops.append(["x", effect.id, dead_letter_json(effect)])
        elif kind is DeadLetterRemoved:
            ops.append(["y", effect.id])
        elif kind is QueuePurged:
            ops.append(["p", effect.topic])
    changed = [[op, seq] for op in ops if op[0] not in _UNANNOUNCED]
    changes = orjson.dumps(changed)[1:-1].decode() if changed else ""
    return [seq, acks, ops, changes, ""]


_UNANNOUNCED = frozenset("qhp")
"""Ops the changes channel does not carry: queueing, fifo attempt counts, purges."""
