"""The Redis adapter: every Redis command of the engine lives in this package."""

from engine.stores.redis.store import RedisStore

__all__ = ["RedisStore"]
