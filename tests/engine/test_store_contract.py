"""Every persistence adapter keeps one contract: the same calls give the same answers.

Each test runs against every adapter in `ADAPTERS` (SQLite on a real file, pure memory,
Redis on the shared server under a prefix of the test's own); a new adapter joins by adding a
factory there. Claims about surviving a restart run for the adapters that keep anything
(`DURABLE`); claims about a queue that one process owns, for the embedded ones (`LOCAL`);
Redis's shared queue has its own claims in tests/redis.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis_support import prefix_on, shared_url

from engine.effects import (
    DeadLettered,
    DeadLetterRemoved,
    DeliveryDone,
    DeliveryFailed,
    EventQueued,
    QueuePurged,
    StateClear,
    StateDelete,
    StateSet,
    StreamItemDelete,
    StreamItemSet,
    TriggerRecord,
)
from engine.stores import Persistence, StoreFailing, StoreHealth, Subscription, TriggerLimits
from engine.stores.memory import MemoryStore
from engine.stores.redis import RedisStore
from engine.stores.sqlite import SqliteStore


@dataclass
class Adapter:
    name: str
    open: Callable[[], Persistence]
    with_triggers: Callable[[TriggerLimits], Persistence]
    """The adapter keeping at most these triggers."""


def _adapters(tmp_path: Path, prefix: str) -> dict[str, Adapter]:
    file = tmp_path / "store.sqlite3"
    return {
        "sqlite": Adapter(
            "sqlite",
            lambda: SqliteStore(file, 100, 1_000),
            lambda limits: SqliteStore(file, 100, 1_000, triggers=limits),
        ),
        "memory": Adapter(
            "memory",
            lambda: MemoryStore(100, 1_000),
            lambda limits: MemoryStore(100, 1_000, limits),
        ),
        "redis": Adapter(
            "redis",
            lambda: RedisStore(shared_url(), prefix, 100, 1_000),
            lambda limits: RedisStore(shared_url(), prefix, 100, 1_000, triggers=limits),
        ),
    }


ADAPTERS = ["sqlite", "memory", "redis"]
DURABLE = ["sqlite", "redis"]
LOCAL = ["sqlite", "memory"]


@pytest.fixture
def key_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    if "redis" not in request.node.name:
        yield ""
        return
    with prefix_on(shared_url()) as prefix:
        yield prefix


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest, tmp_path: Path, key_prefix: str) -> Adapter:
    return _adapters(tmp_path, key_prefix)[request.param]


@pytest.fixture(params=DURABLE)
def durable_adapter(request: pytest.FixtureRequest, tmp_path: Path, key_prefix: str) -> Adapter:
    return _adapters(tmp_path, key_prefix)[request.param]


@pytest.fixture(params=LOCAL)
def local_store_adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Adapter:
    return _adapters(tmp_path, "")[request.param]


@pytest.fixture
async def local_store(local_store_adapter: Adapter) -> AsyncIterator[Persistence]:
    opened = await started(local_store_adapter)
    yield opened
    await opened.close()


@pytest.fixture
async def store(adapter: Adapter) -> AsyncIterator[Persistence]:
    opened = await started(adapter)
    yield opened
    await opened.close()


async def started(adapter: Adapter) -> Persistence:
    store = adapter.open()
    changes: list[StoreHealth] = []
    store.start(asyncio.get_running_loop(), changes.append)
    return store


async def commit(store: Persistence, *effects: Any) -> None:
    done = store.commit(list(effects), True, store.epoch)
    assert done is not None
    await done


async def queued_ids(
    store: Persistence, edges: tuple[tuple[str, str], ...] = (("topic", "Step"),)
) -> list[str]:
    """The deliveries waiting in the store: listed by an embedded one, handed out by a
    shared queue's consumer to the steps subscribed (`edges`: topic and step)."""
    if not store.shared_queue:
        return [q.id for q in store.claim_queued()]
    got: list[EventQueued] = []
    store.subscribe([Subscription(topic, step, False, 900.0) for topic, step in edges])
    store.serve(got.append)
    for _ in range(300):
        if got:
            break
        await asyncio.sleep(0.01)
    return [q.id for q in got]


def queued(
    delivery_id: str, seq: int = 1, attempt: int = 1, topic: str = "topic", step: str = "Step"
) -> EventQueued:
    return EventQueued(delivery_id, seq, topic, step, '{"n": 1}', "t1", None, attempt, 0.0)


def dead(delivery_id: str) -> DeadLettered:
    return DeadLettered(delivery_id, "topic", "Step", "{}", "boom", "Traceback: boom", 3, "t1", 5.0)


async def test_a_unit_is_read_back_at_once_and_after_its_commit(store: Persistence) -> None:
    done = store.commit([StateSet("g", "a", "1"), StateSet("g", "b", "2")], True, store.epoch)
    assert store.state_get("g", "a") == "1"
    assert done is not None
    await done
    assert store.state_get("g", "b") == "2"
    assert store.state_group("g") == {"a": "1", "b": "2"}
    assert store.state_groups() == {"g": {"a": "1", "b": "2"}}
    await commit(store, StateDelete("g", "a"))
    assert store.state_get("g", "a") is None
    await commit(store, StateSet("h", "x", '"y"'), StateClear("g"))
    assert store.state_groups() == {"h": {"x": '"y"'}}
    assert store.state_group("g") == {}


async def test_clearing_then_setting_in_one_unit_keeps_what_was_set(store: Persistence) -> None:
    await commit(store, StateSet("g", "old", "1"))
    await commit(store, StateClear("g"), StateSet("g", "new", "2"))
    assert store.state_group("g") == {"new": "2"}


async def test_stream_items(store: Persistence) -> None:
    await commit(
        store,
        StreamItemSet("todo", "inbox", "1", '{"id": "1"}'),
        StreamItemSet("todo", "done", "2", '{"id": "2"}'),
    )
    assert store.stream_get("todo", "inbox", "1") == '{"id": "1"}'
    assert store.stream_group("todo", "done") == {"2": '{"id": "2"}'}
    assert store.stream_groups("todo") == ["done", "inbox"]
    await commit(store, StreamItemDelete("todo", "inbox", "1"))
    assert store.stream_groups("todo") == ["done"]
    assert store.stream_get("todo", "inbox", "1") is None


async def test_deliveries_are_claimed_until_done_or_dead(local_store: Persistence) -> None:
    store = local_store
    await commit(store, queued("d1", 1), queued("d2", 2), queued("d3", 3))
    await commit(store, DeliveryDone("d1"), DeliveryFailed("d2", 2, 99.5))
    claimed = store.claim_queued()
    assert [(q.id, q.attempt, q.not_before) for q in claimed] == [("d2", 2, 99.5), ("d3", 1, 0.0)]
    assert claimed[0].data_json == '{"n": 1}'
    await commit(store, dead("d3"))
    assert [q.id for q in store.claim_queued()] == ["d2"]
    (letter,) = store.dead_letters()
    assert (letter.id, letter.error, letter.traceback, letter.attempts) == (
        "d3",
        "boom",
        "Traceback: boom",
        3,
    )
    await commit(store, DeadLetterRemoved("d3"))
    assert store.dead_letters() == []


async def test_a_purge_empties_one_topic_for_every_subscriber(store: Persistence) -> None:
    await commit(
        store,
        queued("a1", 1, topic="fan", step="A"),
        queued("b1", 2, topic="fan", step="B"),
        queued("k1", 3, topic="keep", step="A"),
    )
    assert store.queue_depths() == {("fan", "A"): 1, ("fan", "B"): 1, ("keep", "A"): 1}
    await commit(store, queued("a2", 4, topic="fan", step="A"), QueuePurged("fan"))
    assert store.queue_depths() == {("keep", "A"): 1}
    edges = (("fan", "A"), ("fan", "B"), ("keep", "A"))
    assert await queued_ids(store, edges) == ["k1"]


async def test_a_purge_takes_the_retries_waiting_for_their_time(store: Persistence) -> None:
    later = EventQueued("r1", 1, "fan", "A", "{}", "t1", None, 2, time.time() + 60)
    await commit(store, later, queued("k1", 2, topic="keep", step="A"))
    assert store.queue_depths() == {("fan", "A"): 1, ("keep", "A"): 1}
    await commit(store, QueuePurged("fan"))
    assert store.queue_depths() == {("keep", "A"): 1}


async def test_what_is_queued_after_a_purge_in_the_same_unit_stays(store: Persistence) -> None:
    await commit(store, QueuePurged("fan"), queued("a3", 5, topic="fan", step="A"))
    assert store.queue_depths() == {("fan", "A"): 1}
    assert await queued_ids(store, (("fan", "A"),)) == ["a3"]


async def test_a_delivery_queued_and_done_in_one_unit_is_not_claimed(
    local_store: Persistence,
) -> None:
    store = local_store
    await commit(store, queued("d1"), DeliveryDone("d1"))
    assert store.claim_queued() == []


async def test_a_run_from_an_earlier_epoch_cannot_commit(store: Persistence) -> None:
    with pytest.raises(StoreFailing):
        store.commit([StateSet("g", "a", "1")], True, store.epoch + 1)
    assert store.state_get("g", "a") is None
    assert store.health.ok


async def test_history_answers_queries(store: Persistence) -> None:
    for n in range(3):
        trace = f"t{n}"
        store.record((f"s{n}", trace, True, float(n), json.dumps({"n": n}), False))
        store.record((f"c{n}", trace, False, n + 0.5, json.dumps({"child": n}), False))
        store.record((float(n), 20 + 10 * n, trace, "Step", f"line {n}", f'{{"n": {n}}}'))
    await store.settled()
    assert store.recent_spans(2) == [
        '{"n": 1}',
        '{"child": 1}',
        '{"n": 2}',
        '{"child": 2}',
    ]
    trace_spans = await asyncio.to_thread(store.trace_spans, "t0")
    assert trace_spans == ['{"n": 0}', '{"child": 0}']
    assert store.recent_logs(2) == ['{"n": 1}', '{"n": 2}']
    assert await asyncio.to_thread(store.query_logs, None, None, 30, None, 10) == [
        '{"n": 1}',
        '{"n": 2}',
    ]
    assert await asyncio.to_thread(store.query_logs, "t0", "Step", None, "line 0", 10) == [
        '{"n": 0}'
    ]
    assert await asyncio.to_thread(store.query_logs, None, None, None, None, 1) == ['{"n": 2}']


async def test_log_history_answers_a_time_window_and_counts_it(store: Persistence) -> None:
    """The Logs pane fills a gap from the store by time, in pages, and says how many
    records the gap holds: bounds are inclusive, and a window's newest `limit` come back."""
    for n in range(10):
        store.record((100.0 + n, 20, None, None, f"m{n}", f'{{"n": {n}}}'))
    await store.settled()

    def query(since: float | None, until: float | None, limit: int = 100) -> list[str]:
        return store.query_logs(None, None, None, None, limit, since, until)

    assert await asyncio.to_thread(query, 103, 106) == [f'{{"n": {n}}}' for n in range(3, 7)]
    assert await asyncio.to_thread(query, 103, 106, 2) == ['{"n": 5}', '{"n": 6}']
    assert await asyncio.to_thread(query, None, 101) == ['{"n": 0}', '{"n": 1}']
    assert await asyncio.to_thread(query, 108.5, None) == ['{"n": 9}']
    assert await asyncio.to_thread(store.count_logs, 103, 106) == 4
    assert await asyncio.to_thread(store.count_logs, None, None) == 10
    assert await asyncio.to_thread(store.count_logs, 200, None) == 0


async def test_a_span_written_again_replaces_the_first(store: Persistence) -> None:
    store.record(("s", "t", True, 1.0, '"running"', False))
    await store.settled()
    store.record(("s", "t", True, 1.0, '"ok"', True))
    await store.settled()
    assert await asyncio.to_thread(store.trace_spans, "t") == ['"ok"']


async def test_a_trace_trigger_is_read_back(store: Persistence) -> None:
    store.record(TriggerRecord("t1", 1.0, '{"kind": "emit", "topic": "go"}'))
    await store.settled()
    assert await asyncio.to_thread(store.trigger, "t1") == '{"kind": "emit", "topic": "go"}'
    assert await asyncio.to_thread(store.trigger, "t2") is None


async def test_the_newest_triggers_are_kept_within_both_limits(adapter: Adapter) -> None:
    store = adapter.with_triggers(TriggerLimits(count=5, bytes=1_000))
    store.start(asyncio.get_running_loop(), lambda health: None)
    try:
        for n in range(8):
            store.record(TriggerRecord(f"t{n}", float(n), json.dumps({"n": n})))
            await store.settled()
        kept = [n for n in range(8) if await asyncio.to_thread(store.trigger, f"t{n}")]
        assert kept == [3, 4, 5, 6, 7]
        big = json.dumps({"pad": "x" * 400})
        for n in range(8, 11):
            store.record(TriggerRecord(f"t{n}", float(n), big))
            await store.settled()
        kept = [n for n in range(11) if await asyncio.to_thread(store.trigger, f"t{n}")]
        assert kept == [9, 10]
    finally:
        await store.close()


async def test_a_batch_of_triggers_past_the_limits_keeps_what_one_by_one_would(
    adapter: Adapter,
) -> None:
    store = adapter.with_triggers(TriggerLimits(count=5, bytes=1_000))
    store.start(asyncio.get_running_loop(), lambda health: None)

    async def kept(upto: int) -> list[int]:
        return [n for n in range(upto) if await asyncio.to_thread(store.trigger, f"t{n}")]

    try:
        for n in range(3):
            store.record(TriggerRecord(f"t{n}", float(n), json.dumps({"n": n})))
        await store.settled()
        for n in range(3, 5):
            store.record(TriggerRecord(f"t{n}", float(n), json.dumps({"n": n})))
        await store.settled()
        assert await kept(5) == [0, 1, 2, 3, 4]
        for n in range(5, 12):
            store.record(TriggerRecord(f"t{n}", float(n), json.dumps({"n": n})))
        await store.settled()
        assert await kept(12) == [7, 8, 9, 10, 11]
        store.record(TriggerRecord("t12", 12.0, json.dumps({"pad": "x" * 300})))
        await store.settled()
        assert await kept(13) == [8, 9, 10, 11, 12]
        big = json.dumps({"pad": "x" * 400})
        for n in range(13, 17):
            store.record(TriggerRecord(f"t{n}", float(n), big))
        await store.settled()
        assert await kept(17) == [15, 16]
    finally:
        await store.close()


async def test_every_cron_tick_is_ours_on_an_embedded_store(local_store: Persistence) -> None:
    store = local_store
    assert store.claim_tick("Tick", 60.0)
    assert store.claim_tick("Tick", 60.0)


async def test_a_fresh_store_opens_with_nothing_to_say(store: Persistence) -> None:
    assert store.notices == []


async def test_health_starts_ok(store: Persistence, adapter: Adapter) -> None:
    assert store.health.ok
    assert store.health.to_json()["status"] == "ok"
    assert store.health.to_json()["adapter"] == adapter.name


async def test_what_was_committed_survives_a_reopen(durable_adapter: Adapter) -> None:
    adapter = durable_adapter
    first = await started(adapter)
    await commit(
        first,
        StateSet("g", "a", "1"),
        StreamItemSet("todo", "inbox", "1", "{}"),
        queued("d1"),
        dead("d9"),
    )
    first.record((1.0, 20, "t", "Step", "kept", '"kept"'))
    first.record(TriggerRecord("t", 1.0, '{"kind": "cron", "step": "Tick"}'))
    await first.close()
    second = await started(adapter)
    try:
        assert second.state_get("g", "a") == "1"
        assert second.stream_group("todo", "inbox") == {"1": "{}"}
        assert await queued_ids(second) == ["d1"]
        assert [d.id for d in second.dead_letters()] == ["d9"]
        assert second.recent_logs(10) == ['"kept"']
        assert second.trigger("t") == '{"kind": "cron", "step": "Tick"}'
    finally:
        await second.close()
