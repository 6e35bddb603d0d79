"""Units committed in one batch (one commit script call): each unit's ownership check decides
for that unit alone. History is sent less often than effects, and still reaches Redis: within
its interval, or at once when the store settles."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import redis
from redis_support import PrivateRedis
from test_purge import claimed_by, commit, event, opened

from engine.effects import DeliveryDone, SpanRecord, StateSet
from engine.stores import StoreFailing


async def test_a_unit_whose_entry_another_worker_took_is_dropped_alone(
    redis_url: str, prefix: str
) -> None:
    running = await opened(redis_url, prefix)
    other = await opened(redis_url, prefix)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await commit(other, event("e1", 1), event("e2", 2), event("e3", 3))
        got = await claimed_by(running)
        assert {q.id for q in got} == {"e1", "e2", "e3"}
        taken = running.claims["e2"]
        client.xclaim(taken.stream_key, taken.group, other.consumer.name, 0, [taken.entry_id])

        # Committed in one turn of the loop: the three units travel in one script call.
        units = [
            running.commit([StateSet("g", key, '"v"'), DeliveryDone(key)], True, running.epoch)
            for key in ("e1", "e2", "e3")
        ]
        results = await asyncio.gather(*(u for u in units if u), return_exceptions=True)

        assert results[0] is None and results[2] is None
        assert isinstance(results[1], StoreFailing)
        assert client.hgetall(f"{prefix}:state:g") == {"e1": '"v"', "e3": '"v"'}
        assert running.state_get("g", "e2") is None
        assert running.state_get("g", "e1") == '"v"'
        pending = client.xpending_range(taken.stream_key, taken.group, "-", "+", 10)
        assert [(row["message_id"], row["consumer"]) for row in pending] == [
            (taken.entry_id, other.consumer.name)
        ]
    finally:
        client.close()
        await running.close()
        await other.close()


@pytest.mark.parametrize("protocol", [2, 3])
async def test_entries_are_read_and_settled_in_either_reply_protocol(
    redis_url: str, prefix: str, protocol: int
) -> None:
    """The reader parses XREADGROUP's raw reply: a map of streams in RESP3, a list of them in
    RESP2 (`?protocol=2` in the URL)."""
    store = await opened(f"{redis_url}?protocol={protocol}", prefix)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await commit(store, event("e1", 1), event("e2", 2))
        got = await claimed_by(store)
        assert sorted((q.id, q.seq, q.topic, q.step) for q in got) == [
            ("e1", 1, "fan", "A"), ("e2", 2, "fan", "A")
        ]
        for queued in got:
            await commit(store, StateSet("g", queued.id, "1"), DeliveryDone(queued.id))
        assert client.hgetall(f"{prefix}:state:g") == {"e1": "1", "e2": "1"}
        assert client.xlen(f"{prefix}:topic:fan") == 0
    finally:
        client.close()
        await store.close()


async def test_settling_sends_the_history_still_gathering(redis_url: str, prefix: str) -> None:
    store = await opened(redis_url, prefix)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for n in range(3):
            store.record(span(n))
            await commit(store, StateSet("g", f"k{n}", "1"))
            assert client.hget(f"{prefix}:state:g", f"k{n}") == "1"
        await store.settled()
        assert client.zcard(f"{prefix}:traces") == 3
        assert store.trace_spans("t2") == ['{"n": 2}']
    finally:
        client.close()
        await store.close()


async def test_history_with_no_effect_after_it_is_sent_within_its_interval(
    redis_url: str, prefix: str
) -> None:
    store = await opened(redis_url, prefix)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await commit(store, StateSet("g", "k", "1"))  # history was just due: now it waits
        for n in range(3):
            store.record(span(n))
        for _ in range(300):
            if client.zcard(f"{prefix}:traces") == 3:
                break
            await asyncio.sleep(0.01)
        assert client.zcard(f"{prefix}:traces") == 3
    finally:
        client.close()
        await store.close()


async def test_a_redis_that_forgot_its_scripts_gets_each_log_record_once(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        store = await opened(server.url, "forgot")
        try:
            await commit(store, StateSet("g", "warm", "1"))
            client.script_flush()  # what a Redis restarted without its cache looks like
            for n in range(3):
                store.record((float(n), 20, None, "Step", f"line {n}", f'{{"n": {n}}}'))
            await commit(store, StateSet("g", "k", "1"))
            await store.settled()
            assert client.hget("forgot:state:g", "k") == "1"
            assert store.recent_logs(10) == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
        finally:
            await store.close()
    finally:
        client.close()
        server.stop()


def span(n: int) -> SpanRecord:
    return (f"s{n}", f"t{n}", True, float(n), f'{{"n": {n}}}', False)


EVENTS = 10_000
COMMITTER = """
import asyncio
import sys

from engine.effects import DeliveryDone, StateSet
from engine.stores import Subscription
from engine.stores.redis import RedisStore


async def main() -> None:
    store = RedisStore(sys.argv[1], sys.argv[2], 100, 1_000)
    store.start(asyncio.get_running_loop(), lambda health: None)
    got = []
    store.subscribe([Subscription("fan", "A", False, 900.0)])
    store.serve(got.append)
    while True:  # each turn's units travel in one script call, until this process is killed
        while got:
            queued = got.pop()
            store.commit([StateSet("done", queued.id, "1"), DeliveryDone(queued.id)], False, 0)
        await asyncio.sleep(0.002)


asyncio.run(main())
"""


async def test_a_worker_killed_mid_batch_leaves_every_entry_acknowledged_with_its_effects(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    feeder = await opened(redis_url, prefix)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    script = tmp_path / "committer.py"
    script.write_text(COMMITTER)
    for start in range(0, EVENTS, 500):
        await commit(feeder, *(event(f"e{n}", n) for n in range(start, start + 500)))
    worker = await asyncio.create_subprocess_exec(sys.executable, str(script), redis_url, prefix)
    try:
        for _ in range(3_000):
            if client.hlen(f"{prefix}:state:done") >= 200:
                break
            await asyncio.sleep(0.01)
        worker.kill()  # SIGKILL while batches are on their way
        await worker.wait()

        done = set(client.hkeys(f"{prefix}:state:done"))
        left = {fields["id"] for _entry, fields in client.xrange(f"{prefix}:topic:fan")}
        assert 200 <= len(done) < EVENTS
        assert done.isdisjoint(left)  # an effect's entry is acknowledged and gone
        assert done | left == {f"e{n}" for n in range(EVENTS)}  # an unacknowledged one stays
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        client.close()
        await feeder.close()


async def test_an_entry_queued_by_the_release_before_is_still_handled(
    redis_url: str, prefix: str
) -> None:
    """Entries used to carry each part of the event in a field of its own; a worker upgraded
    while such entries wait in Redis claims and handles them as it does its own."""
    store = await opened(redis_url, prefix)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.sadd(f"{prefix}:topics", "fan")
        client.xadd(f"{prefix}:topic:fan", {
            "id": "old", "step": "A", "seq": "7", "data": '{"n": 1}', "trace": "t9",
            "parent": "p3", "attempt": "2",
        })
        got = await claimed_by(store)
        assert [(q.id, q.seq, q.topic, q.step, q.data_json, q.trace_id, q.parent_span,
                 q.attempt) for q in got] == [("old", 7, "fan", "A", '{"n": 1}', "t9", "p3", 2)]
        await commit(store, DeliveryDone("old"))
        assert client.xlen(f"{prefix}:topic:fan") == 0
    finally:
        client.close()
        await store.close()
