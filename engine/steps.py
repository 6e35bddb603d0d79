"""A step: its typed, validated config and its handler.

Validation turns Motia's loose config dicts into one `Step` the rest of the engine trusts, and
turns every mistake into a `StepError` naming the file and the line of `config`, so a broken
step is reported precisely and the other steps keep running.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.schema import Schema, to_schema

STEP_TYPES = ("api", "event", "cron", "noop")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
COMMON_KEYS = {
    "type",
    "name",
    "description",
    "flows",
    "emits",
    "virtualEmits",
    "virtualSubscribes",
    "includeFiles",
}
KEYS_BY_TYPE = {
    "api": COMMON_KEYS
    | {"path", "method", "bodySchema", "responseSchema", "queryParams", "middleware"},
    "event": COMMON_KEYS | {"subscribes", "input", "infrastructure"},
    "cron": COMMON_KEYS | {"cron"},
    "noop": COMMON_KEYS,
}
REQUIRED_BY_TYPE = {"api": ("path", "method"), "event": ("subscribes",), "cron": ("cron",)}
DEFAULT_MAX_RETRIES = 3
DEFAULT_VISIBILITY_TIMEOUT_S = 900.0


class StepError(Exception):
    """Why a step file cannot be used, with where to look."""

    def __init__(
        self,
        file: Path | str,
        line: int | None,
        message: str,
        imported_by: tuple[str, ...] = (),
    ) -> None:
        """`imported_by`: the step files whose import reached the failing helper `file`."""
        self.file = str(file)
        self.line = line or 1
        self.reason = message
        self.imported_by = imported_by
        super().__init__(f"{self.file}:{self.line}: {self.message}")

    @property
    def message(self) -> str:
        if not self.imported_by:
            return self.reason
        return f"{self.reason} (imported by {', '.join(self.imported_by)})"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file": self.file, "line": self.line, "message": self.message}
        if self.imported_by:
            data["importedBy"] = list(self.imported_by)
        return data


def merge_errors(errors: Iterable[StepError]) -> list[dict[str, Any]]:
    """One entry per failing place: a broken helper imported by three steps is one error
    naming the three, not three errors."""
    merged: dict[tuple[str, int, str], StepError] = {}
    for error in errors:
        key = (error.file, error.line, error.reason)
        known = merged.get(key)
        if known is None:
            merged[key] = error
        elif error.imported_by:
            importers = tuple(dict.fromkeys(known.imported_by + error.imported_by))
            merged[key] = StepError(error.file, error.line, error.reason, importers)
    return [error.to_json() for error in merged.values()]


@dataclass(frozen=True, slots=True)
class Emit:
    topic: str
    label: str | None = None
    conditional: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"topic": self.topic}
        if self.label:
            data["label"] = self.label
        if self.conditional:
            data["conditional"] = True
        return data


@dataclass(frozen=True, slots=True)
class QueueConfig:
    fifo: bool = False
    max_retries: int = DEFAULT_MAX_RETRIES
    visibility_timeout_s: float = DEFAULT_VISIBILITY_TIMEOUT_S
    delay_s: float = 0.0
    max_queued: int | None = None
    """The step's own bound on its queue of each topic; None: the setting `max_queued`."""


@dataclass(slots=True)
class Step:
    """Everything the engine needs to know about one step file."""

    name: str
    type: str
    file: Path
    line: int
    config: dict[str, Any]
    handler: Callable[..., Any] | None
    description: str = ""
    flows: list[str] = field(default_factory=list)
    emits: list[Emit] = field(default_factory=list)
    virtual_emits: list[Emit] = field(default_factory=list)
    virtual_subscribes: list[str] = field(default_factory=list)
    subscribes: list[str] = field(default_factory=list)
    path: str | None = None
    method: str | None = None
    body_schema: Schema | None = None
    input_schema: Schema | None = None
    response_schemas: dict[int, Schema | None] = field(default_factory=dict)
    query_params: list[dict[str, Any]] = field(default_factory=list)
    middleware: list[Callable[..., Any]] = field(default_factory=list)
    cron: str | None = None
    timeout_s: float | None = None
    queue: QueueConfig = field(default_factory=QueueConfig)
    warnings: list[str] = field(default_factory=list)
    is_async: bool = False
    language: str = "python"
    emit_topics: frozenset[str] = field(init=False, default=frozenset())
    """The declared emit topics, kept as a set because every emit is checked against it."""

    def __post_init__(self) -> None:
        self.emit_topics = frozenset(e.topic for e in self.emits)

    def to_json(self, project_dir: Path | None = None) -> dict[str, Any]:
        """The introspection view of a step (camelCase, as Motia names things)."""
        file = self.file
        if project_dir is not None and file.is_relative_to(project_dir):
            file = file.relative_to(project_dir)
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "file": str(file),
            "line": self.line,
            "description": self.description,
            "flows": self.flows,
            "emits": [e.to_json() for e in self.emits],
            "virtualEmits": [e.to_json() for e in self.virtual_emits],
            "virtualSubscribes": self.virtual_subscribes,
            "subscribes": self.subscribes,
            "language": self.language,
            "status": "ok",
        }
        if self.type == "api":
            data["path"] = self.path
            data["method"] = self.method
            data["bodySchema"] = self.body_schema.json_schema if self.body_schema else None
            data["queryParams"] = self.query_params
        if self.type == "event" and self.input_schema is not None:
            data["input"] = self.input_schema.json_schema
        if self.type == "cron":
            data["cron"] = self.cron
        if self.warnings:
            data["warnings"] = self.warnings
        return data


def _emits(raw: Any, key: str) -> list[Emit]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"{key!r} must be a list of topics")
    result = []
    for item in raw:
        if isinstance(item, str) and item:
            result.append(Emit(item))
        elif isinstance(item, dict) and isinstance(item.get("topic"), str) and item["topic"]:
            result.append(
                Emit(item["topic"], item.get("label"), bool(item.get("conditional", False)))
            )
        else:
            raise ValueError(
                f"{key!r} items must be a topic string or {{'topic': ...}}, got {item!r}"
            )
    return result


def _strings(raw: Any, key: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValueError(f"{key!r} must be a list of strings")
    return list(raw)


def _schema(config: dict[str, Any], key: str) -> Schema | None:
    try:
        return to_schema(config.get(key))
    except ValueError as exc:
        raise ValueError(f"{key!r}: {exc}") from None


def cron_is_valid(expression: str) -> bool:
    fields_count = len(expression.split())
    if fields_count not in (5, 6):
        return False
    from croniter import croniter  # on first use: a project without cron steps starts without it

    return croniter.is_valid(expression, second_at_beginning=fields_count == 6)


_PATH_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


def _number(value: Any, what: str, *, positive: bool = False) -> float:
    """A finite number, at least 0 (above 0 with `positive`): a timeout of 0 or NaN ends
    every run at once or never."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        kind = "a positive" if positive else "a non-negative"
        raise ValueError(f"{what} must be {kind} number, got {value!r}")
    return float(value)


def _infrastructure(raw: Any) -> tuple[float | None, QueueConfig]:
    if raw is None:
        return None, QueueConfig()
    if not isinstance(raw, dict):
        raise ValueError("'infrastructure' must be a dict")
    handler = raw.get("handler") or {}
    queue = raw.get("queue") or {}
    if not isinstance(handler, dict) or not isinstance(queue, dict):
        raise ValueError("'infrastructure.handler' and 'infrastructure.queue' must be dicts")
    timeout = handler.get("timeout")
    timeout_s = (
        None
        if timeout is None
        else _number(timeout, "infrastructure.handler.timeout", positive=True)
    )
    kind = queue.get("type", "standard")
    if kind not in ("standard", "fifo"):
        raise ValueError(f"infrastructure.queue.type must be 'standard' or 'fifo', got {kind!r}")
    retries = queue.get("maxRetries", DEFAULT_MAX_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(
            f"infrastructure.queue.maxRetries must be a whole number >= 0, got {retries!r}"
        )
    max_queued = queue.get("maxQueued")
    if max_queued is not None and (
        isinstance(max_queued, bool) or not isinstance(max_queued, int) or max_queued < 1
    ):
        raise ValueError(
            f"infrastructure.queue.maxQueued must be a whole number >= 1, got {max_queued!r}"
        )
    return timeout_s, QueueConfig(
        fifo=kind == "fifo",
        max_queued=max_queued,
        max_retries=retries,
        visibility_timeout_s=_number(
            queue.get("visibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT_S),
            "infrastructure.queue.visibilityTimeout",
            positive=True,
        ),
        delay_s=_number(queue.get("delaySeconds", 0), "infrastructure.queue.delaySeconds"),
    )


def build_step(config: Any, handler: Any, file: Path, line: int) -> Step:
    """Validate a step module's `config` and `handler`; raise StepError on the first problem."""
    if not isinstance(config, dict):
        raise StepError(file, line, f"'config' must be a dict, not {type(config).__name__}")
    step_type = config.get("type")
    if step_type not in STEP_TYPES:
        raise StepError(
            file, line, f"'type' must be one of {', '.join(STEP_TYPES)}; got {step_type!r}"
        )
    name = config.get("name")
    if not isinstance(name, str) or not name.strip():
        raise StepError(file, line, "'name' is required and must be a non-empty string")
    if step_type != "noop" and not callable(handler):
        raise StepError(
            file,
            line,
            f"step {name!r} has no handler: define `handler` ({step_type} steps need one)",
        )
    warnings = []
    misspelled: dict[str, str] = {}
    article = "an" if step_type[0] in "aeiou" else "a"
    for key in config:
        if key not in KEYS_BY_TYPE[step_type]:
            close = difflib.get_close_matches(key, sorted(KEYS_BY_TYPE[step_type]), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            warnings.append(f"unknown config key {key!r} for {article} {step_type} step{hint}")
            if close:
                misspelled.setdefault(close[0], key)
    for required in REQUIRED_BY_TYPE.get(step_type, ()):
        if required not in config and required in misspelled:
            raise StepError(
                file,
                line,
                f"step {name!r}: {required!r} is required; "
                f"did you mean {required!r} instead of {misspelled[required]!r}?",
            )
    try:
        flows = _strings(config.get("flows"), "flows")
        step = Step(
            name=name,
            type=step_type,
            file=file,
            line=line,
            config=config,
            handler=handler if step_type != "noop" else None,
            is_async=inspect.iscoroutinefunction(handler),
            description=str(config.get("description") or ""),
            flows=flows,
            emits=_emits(config.get("emits"), "emits"),
            virtual_emits=_emits(config.get("virtualEmits"), "virtualEmits"),
            virtual_subscribes=_strings(config.get("virtualSubscribes"), "virtualSubscribes"),
            warnings=warnings,
        )
        if step_type == "api":
            _api(step, config)
        elif step_type == "event":
            _event(step, config)
        elif step_type == "cron":
            _cron(step, config)
    except ValueError as exc:
        raise StepError(file, line, f"step {name!r}: {exc}") from None
    return step


def _api(step: Step, config: dict[str, Any]) -> None:
    path = config.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"'path' must be a string starting with '/', got {path!r}")
    method = config.get("method")
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        raise ValueError(f"'method' must be one of {', '.join(HTTP_METHODS)}, got {method!r}")
    step.path = path
    step.method = method.upper()
    step.body_schema = _schema(config, "bodySchema")
    responses = config.get("responseSchema") or {}
    if not isinstance(responses, dict):
        raise ValueError("'responseSchema' must map status codes to schemas")
    for status, raw in responses.items():
        try:
            code = int(status)
        except (TypeError, ValueError):
            raise ValueError(f"'responseSchema' key {status!r} is not a status code") from None
        try:
            step.response_schemas[code] = to_schema(raw)
        except ValueError as exc:
            raise ValueError(f"'responseSchema' {status}: {exc}") from None
    params = config.get("queryParams") or []
    if not isinstance(params, list) or not all(isinstance(p, dict) and "name" in p for p in params):
        raise ValueError("'queryParams' must be a list of {'name', 'description'}")
    step.query_params = params
    middleware = config.get("middleware") or []
    if not isinstance(middleware, list) or not all(callable(m) for m in middleware):
        raise ValueError("'middleware' must be a list of callables")
    step.middleware = middleware


def _event(step: Step, config: dict[str, Any]) -> None:
    subscribes = _strings(config.get("subscribes"), "subscribes")
    if not subscribes:
        raise ValueError("'subscribes' must list at least one topic")
    step.subscribes = subscribes
    step.input_schema = _schema(config, "input")
    step.timeout_s, step.queue = _infrastructure(config.get("infrastructure"))


def _cron(step: Step, config: dict[str, Any]) -> None:
    expression = config.get("cron")
    if not isinstance(expression, str) or not cron_is_valid(expression):
        raise ValueError(
            f"'cron' must be a valid 5- or 6-field cron expression, got {expression!r}"
        )
    step.cron = expression


def path_pattern(path: str) -> tuple[re.Pattern[str], list[str]]:
    """Compile `/orders/:id` into a regex and its parameter names."""
    names = _PATH_PARAM.findall(path)
    parts = _PATH_PARAM.split(path)
    regex = ""
    for index, part in enumerate(parts):
        regex += re.escape(part) if index % 2 == 0 else "([^/]+)"
    return re.compile(f"^{regex}/?$" if path != "/" else "^/$"), names
