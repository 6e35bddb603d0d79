"""A purge on one worker while another runs an event of the purged topic: the run under way
still commits, and its failure is not retried on any worker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cluster_support import MOTIA

from engine.effects import (
    DeadLettered,
    DeliveryFailed,
    Effect,
    EventQueued,
    QueuePurged,
    StateSet,
)
from engine.stores import Persistence, StoreHealth, Subscription
from engine.stores.redis import RedisStore


async def opened(redis_url: str, prefix: str) -> RedisStore:
    store = RedisStore(redis_url, prefix, 100, 1_000)
    health: list[StoreHealth] = []
    store.start(asyncio.get_running_loop(), health.append)
    return store


async def commit(store: Persistence, *effects: Effect) -> None:
    done = store.commit(list(effects), True, store.epoch)
    assert done is not None
    await done


def event(delivery_id: str, seq: int) -> EventQueued:
    return EventQueued(delivery_id, seq, "fan", "A", "{}", "t1", None, 1, 0.0)


async def claimed_by(store: RedisStore) -> list[EventQueued]:
    got: list[EventQueued] = []
    store.subscribe([Subscription("fan", "A", False, 900.0)])
    store.serve(got.append)
    for _ in range(300):
        if got:
            break
        await asyncio.sleep(0.01)
    return got


async def test_a_run_under_way_commits_after_a_purge_and_is_not_retried(
    redis_url: str, prefix: str
) -> None:
    running = await opened(redis_url, prefix)
    purging = await opened(redis_url, prefix)
    try:
        await commit(purging, event("e1", 1), event("e2", 2))
        got = await claimed_by(running)
        assert {q.id for q in got} == {"e1", "e2"}
        await commit(purging, QueuePurged("fan"))
        assert purging.queue_depths() == {}

        await commit(running, StateSet("g", "k", '"kept"'), DeliveryFailed("e1", 2, 0.0))
        dead = DeadLettered("e2", "fan", "A", "{}", "boom", "", 3, "t1", time.time())
        await commit(running, dead)

        await asyncio.sleep(0.3)  # the mover would have put a retry back by now
        assert purging.state_get("g", "k") == '"kept"'
        assert purging.queue_depths() == {}
        assert [letter.id for letter in purging.dead_letters()] == ["e2"]
    finally:
        await running.close()
        await purging.close()


async def test_motia_queue_purge_empties_a_topic_in_redis_for_every_worker(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    project_dir = tmp_path / prefix  # the folder's name is the project's key prefix
    (project_dir / "steps").mkdir(parents=True)
    store = await opened(redis_url, prefix)
    try:
        await commit(store, event("e1", 1), event("e2", 2),
                     EventQueued("k1", 3, "keep", "A", "{}", "t1", None, 1, 0.0))
        process = await asyncio.create_subprocess_exec(
            *MOTIA, "queue", "purge", "fan", "--redis", redis_url, "--dir", str(project_dir),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        assert out.decode().startswith("purged 2 queued event(s) of 'fan' from ")
        assert store.queue_depths() == {("keep", "A"): 1}
    finally:
        await store.close()
