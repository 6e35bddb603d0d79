"""A trace's whole trigger, kept apart from its spans so that the trace can be sent again.

A span keeps a capped, credential-free view of a request. Re-running a trace, or turning it
into a test, needs the trigger itself: the request's method, path, query string, headers
(credentials withheld, and named, so a re-run can ask for them) and raw body; or the
manually emitted event; or the cron step. The store keeps one trigger per trace in a table of
its own, bounded apart from spans (settings `trigger_store` and `trigger_store_bytes`).

`RERUN_OF` names the trace (and span) a re-run repeats while the re-run starts its new trace,
so the root span records `rerunOf` without any header a client could send.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

from engine import jsonio
from engine.effects import TriggerRecord
from engine.stores import Persistence

API: Final = "api"
EMIT: Final = "emit"
CRON: Final = "cron"
DELIVERY: Final = "delivery"
"""A re-run from an event step's span: that step alone, with the given input."""

RERUN_OF: ContextVar[dict[str, str] | None] = ContextVar("motia_rerun_of", default=None)


def api_trigger(
    method: str,
    path: str,
    query_string: bytes,
    headers: dict[str, str],
    visible: dict[str, str],
    raw: bytes,
) -> dict[str, Any]:
    """A request as it came, but its credentials (`visible` holds the other headers, as the
    span shows them): those headers are named in `withheld`."""
    withheld = (
        []
        if len(visible) == len(headers)
        else sorted(k.lower() for k in headers if k not in visible)
    )
    trigger: dict[str, Any] = {
        "kind": API,
        "method": method,
        "path": path,
        "query": query_string.decode("latin-1"),
        "headers": dict(visible),
        "withheld": withheld,
    }
    try:
        trigger["rawBody"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        trigger["rawBody"] = base64.b64encode(raw).decode("ascii")
        trigger["bodyEncoding"] = "base64"
    return trigger


def raw_body(trigger: dict[str, Any]) -> bytes:
    """The request body a trigger holds, as it was sent."""
    text = str(trigger.get("rawBody") or "")
    if trigger.get("bodyEncoding") == "base64":
        return base64.b64decode(text)
    return text.encode("utf-8")


def emit_trigger(topic: str, data: Any) -> dict[str, Any]:
    return {"kind": EMIT, "topic": topic, "data": data}


def cron_trigger(step: str) -> dict[str, Any]:
    return {"kind": CRON, "step": step}


def delivery_trigger(step: str, topic: str, data: Any) -> dict[str, Any]:
    return {"kind": DELIVERY, "step": step, "topic": topic, "data": data}


def record(
    store: Persistence, trace_id: str, trigger: dict[str, Any], at: float | None = None
) -> None:
    """Keep the trigger of a new trace (history: never a reason to fail the run); `at`, in
    ms, when the caller has just read the clock (its root span's start): on a virtual
    machine a clock read can cost as much as a small step's line of Python."""
    when = time.time() * 1000 if at is None else at
    store.record(TriggerRecord(trace_id, when, jsonio.dumps_lenient(trigger)))


def record_request(
    store: Persistence, trace_id: str, make: Callable[[], dict[str, Any]]
) -> None:
    """`record` for an api trigger, made and encoded only if the store gets to keep it:
    `make` (`api_trigger` with its arguments) holds only what nobody changes (the request's
    own header dicts, not the handler's copy)."""
    store.record(TriggerRecord.lazy(trace_id, time.time() * 1000, make))


def current_rerun() -> dict[str, str] | None:
    return RERUN_OF.get()


def describe(trigger: dict[str, Any]) -> str:
    """One line for people: `POST /orders`, `emit order.created`, `cron Cleanup`."""
    kind = trigger.get("kind")
    if kind == API:
        query = f"?{trigger['query']}" if trigger.get("query") else ""
        return f"{trigger.get('method')} {trigger.get('path')}{query}"
    if kind == EMIT:
        return f"emit {trigger.get('topic')}"
    if kind == CRON:
        return f"cron {trigger.get('step')}"
    return f"deliver {trigger.get('topic')} to {trigger.get('step')}"


async def read(store: Persistence, trace_id: str) -> dict[str, Any] | None:
    """A trace's trigger once everything handed to the store is in it (off the loop)."""
    await store.settled()
    data = await asyncio.get_running_loop().run_in_executor(None, store.trigger, trace_id)
    return None if data is None else dict(jsonio.loads(data))
