"""Persistence adapters behind one protocol; this is the only place that picks one.

`open_store` answers the adapter the settings name: Redis (`redis_url`, shared by several
workers), the SQLite file (the default) or pure memory (`store = ":memory:"`). Nothing
else in the engine knows which one it talks to.
"""

from __future__ import annotations

from pathlib import Path

from engine.settings import Settings
from engine.stores.base import (
    Persistence,
    StoreError,
    StoreFailing,
    StoreHealth,
    Subscription,
    TriggerLimits,
    failing_error,
)

__all__ = [
    "Persistence",
    "StoreError",
    "StoreFailing",
    "StoreHealth",
    "Subscription",
    "TriggerLimits",
    "failing_error",
    "open_store",
]


def open_store(settings: Settings, project_dir: Path) -> Persistence:
    triggers = TriggerLimits(settings.trigger_store, settings.trigger_store_bytes)
    if settings.redis_url:
        from engine.stores.redis import RedisStore

        return RedisStore(
            settings.redis_url,
            settings.redis_key_prefix(project_dir),
            settings.trace_store,
            settings.log_store,
            settings.redis_heartbeat_s,
            triggers,
            settings.redis_events_kept,
        )
    path = settings.store_path(project_dir)
    if path is None:
        from engine.stores.memory import MemoryStore

        return MemoryStore(settings.trace_store, settings.log_store, triggers)
    from engine.stores.sqlite import SqliteStore

    return SqliteStore(
        path, settings.trace_store, settings.log_store, settings.reset_store, triggers
    )
