"""The embedded SQLite adapter: every SQL statement of the engine lives in this package."""

from engine.stores.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
