"""`types.d.ts` for editors: the `motia` module's types and `Handlers` keyed by step name.

The file declares the module `motia` itself (it has no top-level import), so an editor checks
`Handlers['PlaceOrder']` with no `motia` package installed, as the steps run without one. Each
handler's input comes from its schema (`bodySchema`, `input`), its answers from
`responseSchema`, and its emits from the declared topics, typed by the input schema of a step
that subscribes to them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.steps import Step
from engine.streams import StreamDefinition

FILE_NAME = "types.d.ts"
MAX_DEPTH = 12

_PRELUDE = """\
// Written by `motia dev` and `motia types` from the project's steps; edits are overwritten.
declare module 'motia' {
  type Emit = string | { topic: string; label?: string; conditional?: boolean }
  type Fields = Record<string, unknown>

  interface Logger {
    info(message: string, fields?: Fields): void
    warn(message: string, fields?: Fields): void
    error(message: string, fields?: Fields): void
    debug(message: string, fields?: Fields): void
    log(message: string, fields?: Fields): void
  }

  interface InternalStateManager {
    get<T = any>(groupId: string, key: string): Promise<T | null>
    set<T>(groupId: string, key: string, value: T): Promise<T>
    delete<T = any>(groupId: string, key: string): Promise<T | null>
    getGroup<T = any>(groupId: string): Promise<T[]>
    clear(groupId: string): Promise<void>
  }

  interface MotiaStream<T> {
    get(groupId: string, id: string): Promise<(T & { id: string }) | null>
    set(groupId: string, id: string, data: T): Promise<T & { id: string }>
    delete(groupId: string, id: string): Promise<(T & { id: string }) | null>
    getGroup(groupId: string): Promise<(T & { id: string })[]>
    send(
      channel: { groupId: string; id?: string },
      event: { type: string; data?: unknown },
    ): Promise<void>
  }

  interface FlowContext<TEmit = never> {
    emit(event: TEmit): Promise<void>
    state: InternalStateManager
    streams: Streams
    logger: Logger
    traceId: string
    flows: string[]
  }

  interface ApiRequest<TBody = unknown> {
    body: TBody
    pathParams: Record<string, string>
    queryParams: Record<string, string | string[]>
    headers: Record<string, string>
    rawBody: string
    method: string
    path: string
  }

  interface ApiResponse<TStatus extends number = number, TBody = unknown> {
    status: TStatus
    body?: TBody
    headers?: Record<string, string>
  }

  type ApiRouteHandler<TBody = any, TResponse = ApiResponse, TEmit = never> = (
    req: ApiRequest<TBody>,
    context: FlowContext<TEmit>,
  ) => Promise<TResponse>
  type EventHandler<TInput = any, TEmit = never> = (
    input: TInput,
    context: FlowContext<TEmit>,
  ) => Promise<void>
  type CronHandler<TEmit = never> = (context: FlowContext<TEmit>) => Promise<void>
  type ApiMiddleware = (
    req: ApiRequest<any>,
    context: FlowContext<any>,
    next: () => Promise<ApiResponse<number, any>>,
  ) => Promise<ApiResponse<number, any>>

  interface StepConfigBase {
    name: string
    description?: string
    flows?: string[]
    emits?: Emit[]
    virtualEmits?: Emit[]
    virtualSubscribes?: string[]
    includeFiles?: string[]
  }
  interface ApiRouteConfig extends StepConfigBase {
    type: 'api'
    path: string
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS'
    bodySchema?: unknown
    responseSchema?: Record<number, unknown>
    queryParams?: { name: string; description?: string }[]
    middleware?: ApiMiddleware[]
  }
  interface EventConfig extends StepConfigBase {
    type: 'event'
    subscribes: string[]
    input?: unknown
    infrastructure?: {
      handler?: { timeout?: number }
      queue?: {
        type?: 'standard' | 'fifo'
        maxRetries?: number
        visibilityTimeout?: number
        delaySeconds?: number
      }
    }
  }
  interface CronConfig extends StepConfigBase {
    type: 'cron'
    cron: string
  }
  interface NoopConfig extends StepConfigBase {
    type: 'noop'
  }
"""


def _literal(value: Any) -> str:
    plain = isinstance(value, str | int | float | bool) or value is None
    return json.dumps(value) if plain else "unknown"


def _key(name: str) -> str:
    return name if name.isidentifier() else json.dumps(name)


def ts_type(schema: Any, depth: int = 0) -> str:
    """A JSON Schema as a TypeScript type; what it cannot say becomes `unknown`."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return "unknown"
    if "const" in schema:
        return _literal(schema["const"])
    if isinstance(schema.get("enum"), list):
        return " | ".join(_literal(v) for v in schema["enum"]) or "never"
    for combinator in ("anyOf", "oneOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            return " | ".join(ts_type(option, depth + 1) for option in options)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        return " & ".join(f"({ts_type(part, depth + 1)})" for part in schema["allOf"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(ts_type({**schema, "type": k}, depth) for k in kind) or "unknown"
    if kind in ("string", "boolean", "null"):
        return str(kind)
    if kind in ("number", "integer"):
        return "number"
    if kind == "array":
        return f"Array<{ts_type(schema.get('items'), depth + 1)}>"
    if kind == "object" or "properties" in schema:
        return _object(schema, depth)
    return "unknown"


def _object(schema: dict[str, Any], depth: int) -> str:
    properties = schema.get("properties")
    required = set(schema.get("required") or [])
    extra = schema.get("additionalProperties")
    fields = []
    if isinstance(properties, dict):
        for name, sub in properties.items():
            mark = "" if name in required else "?"
            fields.append(f"{_key(str(name))}{mark}: {ts_type(sub, depth + 1)}")
    if isinstance(extra, dict):
        fields.append(f"[key: string]: {ts_type(extra, depth + 1)}")
    elif not isinstance(properties, dict):
        return "Record<string, unknown>"
    return "{ " + "; ".join(fields) + " }" if fields else "{}"


def _input_types(steps: Iterable[Step]) -> dict[str, str]:
    """Each topic's data type: the input schema of the first subscriber that has one."""
    types: dict[str, str] = {}
    for step in steps:
        if step.input_schema is None:
            continue
        for topic in step.subscribes:
            types.setdefault(topic, ts_type(step.input_schema.json_schema))
    return types


def _emits(step: Step, topics: dict[str, str]) -> str:
    if not step.emits:
        return "never"
    return " | ".join(
        f"{{ topic: {json.dumps(e.topic)}; data: {topics.get(e.topic, 'any')} }}"
        for e in step.emits
    )


def _handler(step: Step, topics: dict[str, str]) -> str:
    emits = _emits(step, topics)
    if step.type == "api":
        body = ts_type(step.body_schema.json_schema) if step.body_schema else "any"
        answers = " | ".join(
            f"ApiResponse<{status}, {ts_type(schema.json_schema) if schema else 'unknown'}>"
            for status, schema in sorted(step.response_schemas.items())
        )
        return f"ApiRouteHandler<{body}, {answers or 'ApiResponse<number, any>'}, {emits}>"
    if step.type == "event":
        data = ts_type(step.input_schema.json_schema) if step.input_schema else "any"
        return f"EventHandler<{data}, {emits}>"
    if step.type == "cron":
        return f"CronHandler<{emits}>"
    return "never"


def render(steps: Iterable[Step], streams: Iterable[StreamDefinition]) -> str:
    ordered = sorted(steps, key=lambda s: s.name)
    topics = _input_types(ordered)
    lines = [_PRELUDE, "  interface Streams {"]
    for stream in sorted(streams, key=lambda d: d.name):
        item = ts_type(stream.schema.json_schema) if stream.schema else "Record<string, unknown>"
        lines.append(f"    {json.dumps(stream.name)}: MotiaStream<{item}>")
    lines.append("  }\n")
    lines.append("  interface Handlers {")
    for step in ordered:
        if step.type != "noop":
            lines.append(f"    {json.dumps(step.name)}: {_handler(step, topics)}")
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_types(
    project_dir: Path, steps: Iterable[Step], streams: Iterable[StreamDefinition]
) -> Path:
    """Write the project's types.d.ts (only when it changes, so watchers see no churn)."""
    target = project_dir / FILE_NAME
    text = render(steps, streams)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target
