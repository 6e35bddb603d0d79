"""Project settings: `motia.toml`, then `MOTIA_*` environment variables, then command-line flags.

A bad value stops the start with the key, where it came from and what is wrong, because a
server that silently falls back to a default is worse than one that refuses to start.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.origins import parse_origin

SETTINGS_FILE = "motia.toml"
ENV_PREFIX = "MOTIA_"


class SettingsError(ValueError):
    """A setting that cannot be used, named with its source."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3000
    max_body_bytes: int = 10 * 1024 * 1024
    trace_store: int = 10_000
    log_store: int = 1_000_000
    trigger_store: int = 1_000
    trigger_store_bytes: int = 100 * 1024 * 1024
    memory_window: int = 10_000
    memory_window_bytes: int = 32 * 1024 * 1024
    """Most of the ended spans' JSON the trace window holds, counted as text: a trace of
    spans that each carry their 200 log records weighs tens of kilobytes, and 10,000 of them
    would be hundreds of megabytes (the window holds such long spans compressed, in a
    fraction of that)."""
    retry_base_s: float = 1.0
    retry_max_s: float = 30.0
    handler_timeout_s: float = 300.0
    state_get: str = "value"
    cors_origins: str | None = None
    introspect_token: str | None = None
    store: str = ".motia/store.sqlite3"
    reset_store: bool = False
    thread_pool_size: int = 32
    max_abandoned_threads: int | None = None
    """Sync threads stuck past their timeout before `def` handlers answer 503; None: the
    pool's size."""
    shutdown_grace_s: float = 10.0
    max_queued: int = 100_000
    max_dead_letters: int = 10_000
    max_trace_spans: int = 10_000
    import_timeout_s: float = 10.0
    failed_attempts: str = "discard"
    tape: bool = True
    tape_part_bytes: int = 50 * 1024 * 1024
    tape_runs: int = 10
    tape_snapshot_bytes: int = 10 * 1024 * 1024
    span_body_bytes: int = 64 * 1024
    max_header_bytes: int = 64 * 1024
    introspect_body_bytes: int = 1024 * 1024
    max_connections: int = 4096
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    allowed_origins: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Where each key that is not a default came from: `--flag`, `MOTIA_KEY` or the file's
    path, so a secret can be named by its source instead of printed."""
    redis_url: str | None = None
    redis_prefix: str | None = None
    redis_heartbeat_s: float = 10.0
    redis_events_kept: int = 10_000
    """Engine events the cluster's live stream keeps (`MAXLEN ~`) while a workbench watches."""
    clock_offset_s: float = 0.0
    drain_grace_s: float = 10.0

    def store_path(self, project_dir: Path) -> Path | None:
        """Where the SQLite store lives; `:memory:` keeps nothing on disk."""
        if self.store == ":memory:":
            return None
        path = Path(self.store)
        return path if path.is_absolute() else project_dir / path

    def redis_key_prefix(self, project_dir: Path) -> str:
        """Every Redis key of this project starts with it: the setting, or the folder's name."""
        return self.redis_prefix or project_dir.name

    def tape_dir(self, project_dir: Path) -> Path | None:
        """Where `motia dev` keeps its engine tapes: beside a file store, never for `:memory:`
        (a project that keeps nothing on disk keeps no tape either)."""
        if not self.tape or self.store_path(project_dir) is None:
            return None
        return project_dir / ".motia" / "sessions"


def _whole(value: Any) -> int:
    """A whole number as written: `true` is not 1 and 1.5 is not 1."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("must be a whole number")
    try:
        return int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _positive_int(value: Any) -> int:
    number = _whole(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def _port(value: Any) -> int:
    number = _whole(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be between 0 and 65535")
    return number


def _positive_float(value: Any) -> float:
    """A finite number above zero: NaN compares false with everything, so it would pass
    `<= 0` and then never time anything out."""
    if isinstance(value, bool):
        raise ValueError("must be a positive number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a positive number") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError("must be a positive number")
    return number


def _boolean(value: Any) -> bool:
    """A TOML boolean, or its spelling in an environment variable."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _state_get(value: Any) -> str:
    if value not in ("value", "wrapped"):
        raise ValueError('must be "value" or "wrapped"')
    return str(value)


def _failed_attempts(value: Any) -> str:
    if value not in ("discard", "keep"):
        raise ValueError('must be "discard" or "keep"')
    return str(value)


def _redis_url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return text


def _finite_float(value: Any) -> float:
    """Any finite number: NaN or infinity would make a clock that never agrees with any."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return value


def _origins(value: Any) -> str | None:
    """Comma-separated origins (`https://app.example.com`), or `*` for any."""
    text = _optional_text(value)
    if text is None:
        return None
    for entry in text.split(","):
        if entry.strip() != "*" and parse_origin(entry) is None:
            raise ValueError(
                f"has {entry.strip()!r}, which is not an origin like https://app.example.com (or *)"
            )
    return text


def _optional_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return _text(value)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "host": _text,
    "port": _port,
    "max_body_bytes": _positive_int,
    "trace_store": _positive_int,
    "log_store": _positive_int,
    "trigger_store": _positive_int,
    "trigger_store_bytes": _positive_int,
    "memory_window": _positive_int,
    "memory_window_bytes": _positive_int,
    "retry_base_s": _positive_float,
    "retry_max_s": _positive_float,
    "handler_timeout_s": _positive_float,
    "state_get": _state_get,
    "cors_origins": _origins,
    "introspect_token": _optional_text,
    "store": _text,
    "reset_store": _boolean,
    "thread_pool_size": _positive_int,
    "max_abandoned_threads": _positive_int,
    "shutdown_grace_s": _positive_float,
    "max_queued": _positive_int,
    "max_dead_letters": _positive_int,
    "max_trace_spans": _positive_int,
    "import_timeout_s": _positive_float,
    "failed_attempts": _failed_attempts,
    "tape": _boolean,
    "tape_part_bytes": _positive_int,
    "tape_runs": _positive_int,
    "tape_snapshot_bytes": _positive_int,
    "span_body_bytes": _positive_int,
    "max_header_bytes": _positive_int,
    "introspect_body_bytes": _positive_int,
    "max_connections": _positive_int,
    "header_timeout_s": _positive_float,
    "body_timeout_s": _positive_float,
    "allowed_origins": _origins,
    "redis_url": _redis_url,
    "redis_prefix": _optional_text,
    "redis_heartbeat_s": _positive_float,
    "redis_events_kept": _positive_int,
    "clock_offset_s": _finite_float,
    "drain_grace_s": _positive_float,
}
KNOWN_KEYS = tuple(f.name for f in fields(Settings) if f.name != "sources")
OTHER_TABLES = ("keys",)
"""Tables of the same file that are not engine settings: `[keys]` remaps the workbench's
keys and is read by `motia_tui.keymap`."""


def _apply(
    values: dict[str, Any],
    source: Mapping[str, Any],
    where: str,
    sources: dict[str, str],
    label: Callable[[str], str],
) -> None:
    for key, raw in source.items():
        parser = _PARSERS.get(key)
        if parser is None:
            raise SettingsError(
                f"unknown setting {key!r} in {where}; known: {', '.join(KNOWN_KEYS)}"
            )
        try:
            values[key] = parser(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"setting {key!r} from {where}: {raw!r} {exc}") from None
        sources[key] = label(key)


def load_settings(
    project_dir: Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    base: Settings | None = None,
) -> Settings:
    """Merge file, environment and flags, in rising precedence."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    path = project_dir / SETTINGS_FILE
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: {exc}") from None
        table = {k: v for k, v in data.items() if k not in OTHER_TABLES}
        _apply(values, table, str(path), sources, lambda _key: str(path))
    env = os.environ if environ is None else environ
    from_env = {
        key: env[ENV_PREFIX + key.upper()] for key in KNOWN_KEYS if ENV_PREFIX + key.upper() in env
    }
    _apply(values, from_env, "the environment", sources, lambda key: ENV_PREFIX + key.upper())
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    _apply(values, flags, "the command line", sources, lambda key: "--" + key.replace("_", "-"))
    start = base or Settings()
    settings = replace(start, **values, sources={**start.sources, **sources})
    _check_together(settings)
    return settings


_ORDERED = (
    ("retry_base_s", "retry_max_s", "the first retry delay cannot be longer than the longest"),
)
"""Pairs of settings where the first may not exceed the second, and why."""


def _check_together(settings: Settings) -> None:
    """Refuse settings that are each fine but contradict each other, naming both sources."""
    for low, high, why in _ORDERED:
        low_value, high_value = getattr(settings, low), getattr(settings, high)
        if low_value > high_value:
            raise SettingsError(
                f"setting {low!r} from {_source(settings, low)}: {low_value!r} is above "
                f"{high!r} ({high_value!r} from {_source(settings, high)}); {why}"
            )


def _source(settings: Settings, key: str) -> str:
    return settings.sources.get(key, "the default")
