"""`motia queue purge TOPIC`: throw away a topic's backlog, on a running server or in the store.

With `--attach URL` it asks the running server (`DELETE /__motia/queues/{topic}`), which
forgets the deliveries in memory too. Without, it opens the project's own store, for a server
that is stopped (a runaway whose backlog would resume at the next start): a server still
running on the project would keep the deliveries it holds in memory, so then it refuses and
names `--attach`. A shared queue (several workers on one store) is purged in the store while
the workers run: each of them still runs, once, what it had already taken.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from urllib.parse import quote

import httpx

from engine.effects import QueuePurged
from engine.settings import Settings
from engine.stores import Persistence, StoreError, StoreFailing, open_store


def cmd_queue_purge(args: argparse.Namespace, project_dir: Path, settings: Settings) -> int:
    if args.attach:
        return _purge_attached(args.attach, args.token, args.topic)
    return _purge_store(project_dir, settings, args.topic)


def _purge_attached(url: str, token: str | None, topic: str) -> int:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    target = f"{url.rstrip('/')}/__motia/queues/{quote(topic, safe='')}"
    try:
        response = httpx.delete(target, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        print(f"motia queue purge: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"motia queue purge: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    print(f"purged {response.json()['purged']} queued event(s) of {topic!r} on {url}")
    return 0


def _server_running(settings: Settings) -> str | None:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"
    try:
        httpx.get(f"{url}/__motia/health", timeout=0.5)
    except httpx.HTTPError:
        return None
    return url


def _purge_store(project_dir: Path, settings: Settings, topic: str) -> int:
    if not settings.redis_url and settings.store_path(project_dir) is None:
        print('motia queue purge: the store is ":memory:", which keeps no queue between runs; '
              "pass --attach URL to purge a running server's", file=sys.stderr)
        return 2
    try:
        store = open_store(settings, project_dir)
    except StoreError as exc:
        print(f"motia queue purge: {exc}", file=sys.stderr)
        return 1
    running = None if store.shared_queue else _server_running(settings)
    if running is not None:
        asyncio.run(store.close())
        print(f"motia queue purge: a server answers on {running}, and would keep running the "
              f"events it holds: pass --attach {running} (and --token T if it needs one)",
              file=sys.stderr)
        return 1
    try:
        purged = asyncio.run(_purge(store, topic))
    except StoreFailing as exc:
        print(f"motia queue purge: {exc}", file=sys.stderr)
        return 1
    print(f"purged {purged} queued event(s) of {topic!r} from {store.health.location}")
    return 0


async def _purge(store: Persistence, topic: str) -> int:
    """The purge committed durably before the store closes: a shared store sends its
    units from the loop it was started on."""
    store.start(asyncio.get_running_loop(), lambda _health: None)
    try:
        purged = sum(n for (queued, _step), n in store.queue_depths().items() if queued == topic)
        done = store.commit([QueuePurged(topic)], True, store.epoch)
        if done is not None:
            await done
        return purged
    finally:
        await store.close()
