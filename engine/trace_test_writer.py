"""A trace as a pytest file: the same trigger, against the same state, must do the same again.

The file is meant to be kept and edited, so it is plain code: one test function named after
the trigger, that starts the project in process (`engine.testing`), seeds the state the trace
read, sends the trigger again, waits until every step has run, and checks the api answer,
the emitted events and the state changes against the recorded ones, with the ids and times
the trace made loosened to `ANY_ID` and `ANY_TIME`. The test is a plain function running its
own event loop, so it needs no pytest plugin.
"""

from __future__ import annotations

import json
import os
import pprint
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from engine import trace_facts, triggers
from engine.loose_match import loosen

WIDTH = 96
NOISE_HEADERS = frozenset(
    {"host", "content-length", "connection", "accept", "accept-encoding", "user-agent"}
)
"""Headers the client sends of itself: left out so the request reads as what matters."""
JSON_TYPES = ("application/json",)


class TraceTestError(ValueError):
    """A trace that cannot become a test (nothing to send again)."""


def function_name(trigger: dict[str, Any]) -> str:
    """`test_post_orders`, `test_emit_order_placed`, `test_cron_order_report`."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", triggers.describe(trigger).split("?")[0])
    slug = re.sub(r"[^0-9a-zA-Z]+", "_", words).strip("_").lower()
    return f"test_{slug or 'trace'}"


def trigger_of(document: dict[str, Any]) -> dict[str, Any]:
    """The export's trigger, or one rebuilt from its root span when it was not kept."""
    if isinstance(document.get("trigger"), dict):
        return dict(document["trigger"])
    spans = trace_facts.ordered(document["trace"]["spans"])
    root = spans[0] if spans else {}
    kind, step, given = root.get("kind"), str(root.get("step")), root.get("input")
    if kind == "api" and isinstance(given, dict):
        body = given.get("body")
        return {
            "kind": triggers.API,
            "method": given.get("method"),
            "path": given.get("path"),
            "query": urlencode(given.get("queryParams") or {}, doseq=True),
            "headers": {**(given.get("headers") or {}), "content-type": "application/json"},
            "withheld": [],
            "rawBody": "" if body in (None, {}) else json.dumps(body),
        }
    if kind == "cron":
        return triggers.cron_trigger(step)
    if kind == "manual" and step.startswith("emit "):
        return triggers.emit_trigger(step[len("emit ") :], given)
    raise TraceTestError(f"trace {document['trace'].get('traceId')} has no trigger to send again")


def write(document: dict[str, Any], project_dir: Path, test_path: Path) -> str:
    """The test file's source for an export document."""
    trace = document["trace"]
    spans: list[dict[str, Any]] = trace["spans"]
    trigger = trigger_of(document)
    ids = _own_ids(spans)
    started = trace.get("startedAt")

    def expected(value: Any) -> Any:
        return loosen(value, ids, started)

    lines = [
        f'"""Trace {trace["traceId"]} as a test:',
        f"{triggers.describe(trigger)}, as it ran {_when(started)}.",
        "",
        "Written by `motia trace test`; keep it and edit it like any test. It starts the project",
        "in process, seeds the state the trace read, sends the same trigger, waits until every",
        "step has run, and checks that the outcome is the same (ids and times match loosely).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import asyncio",
        "from pathlib import Path",
        "",
        "from engine.testing import {names}",
        "",
        f"PROJECT = (Path(__file__).parent / {_project_path(project_dir, test_path)!r}).resolve()",
        "",
        "",
        f"def {function_name(trigger)}() -> None:",
        "    async def replay() -> None:",
        "        async with ProjectUnderTest(PROJECT) as project:",
    ]
    body = [*_seeds(spans), "", *_send(trigger), "await project.idle()", ""]
    body += _checks(trigger, spans, expected)
    lines += [f"            {line}" if line else "" for line in body]
    lines += ["", "    asyncio.run(replay())", ""]
    source = "\n".join(lines)
    used = [name for name in ("ANY_ID", "ANY_TIME") if re.search(rf"\b{name}\b", source)]
    return source.replace("{names}", ", ".join([*used, "ProjectUnderTest", "assert_like"]), 1)


def _own_ids(spans: list[dict[str, Any]]) -> set[str]:
    ids: set[str] = set()
    for span in spans:
        for field in ("traceId", "spanId", "deliveryId"):
            if span.get(field):
                ids.add(str(span[field]))
    return ids


def _when(started: Any) -> str:
    if not isinstance(started, int | float):
        return "once"
    return f"at {datetime.fromtimestamp(started / 1000, UTC):%Y-%m-%d %H:%M:%S} UTC"


def _project_path(project_dir: Path, test_path: Path) -> str:
    return os.path.relpath(project_dir.resolve(), test_path.resolve().parent)


def _literal(value: Any, indent: int) -> str:
    """Python source for a value, wrapped to fit, continuation lines indented."""
    text = pprint.pformat(value, width=max(40, WIDTH - indent), sort_dicts=False)
    return text.replace("\n", "\n" + " " * indent)


def _seeds(spans: list[dict[str, Any]]) -> list[str]:
    reads = trace_facts.state_read(spans)
    if not reads:
        return ["# the trace read no state that was there before it"]
    lines = ["# the state the trace read"]
    for read in reads:
        value = _literal(read["value"], 16)
        call = f"await project.seed_state({read['group']!r}, {read['key']!r}, {value})"
        if "\n" in call or len(call) > WIDTH - 12:
            call = (
                f"await project.seed_state(\n    {read['group']!r},\n    {read['key']!r},\n"
                f"    {value},\n)"
            )
        lines += call.split("\n")
    return lines


def _send(trigger: dict[str, Any]) -> list[str]:
    kind = trigger.get("kind")
    if kind == triggers.EMIT:
        return [
            f"trace_id = project.emit({trigger['topic']!r}, "
            + _literal(trigger.get("data"), 40) + ")"
        ]
    if kind == triggers.CRON:
        return [f"trace_id = await project.trigger_cron({trigger['step']!r})"]
    if kind != triggers.API:
        raise TraceTestError(f"a {kind!r} trigger cannot be sent from a test")
    headers = {
        k: v for k, v in (trigger.get("headers") or {}).items() if k.lower() not in NOISE_HEADERS
    }
    lines: list[str] = []
    if trigger.get("withheld"):
        names = ", ".join(trigger["withheld"])
        lines.append(f"# the trace was sent with {names}, never recorded: add it if a step needs")
    arguments = [repr(str(trigger["method"])), repr(str(trigger["path"]))]
    if trigger.get("query"):
        arguments.append(f"params={trigger['query']!r}")
    raw = triggers.raw_body(trigger)
    parsed = _json_body(raw, headers)
    if parsed is not None:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if headers:
        arguments.append("headers=" + _literal(headers, 24))
    if parsed is not None:
        arguments.append("json=" + _literal(parsed[0], 21))
    elif raw:
        arguments.append(f"content={raw!r}")
    lines.append("response = await project.client.request(")
    lines += [f"    {argument}," for argument in arguments]
    lines += [")", 'trace_id = response.headers["x-trace-id"]']
    return lines


def _json_body(raw: bytes, headers: dict[str, str]) -> tuple[Any] | None:
    kind = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if not raw or not kind.split(";")[0].strip().lower().startswith(JSON_TYPES):
        return None
    try:
        return (json.loads(raw),)
    except ValueError:
        return None


def _checks(trigger: dict[str, Any], spans: list[dict[str, Any]], expected: Any) -> list[str]:
    lines: list[str] = []
    response = trace_facts.api_response(spans) if trigger.get("kind") == triggers.API else None
    if response is not None:
        lines.append(f"assert response.status_code == {response['status']!r}")
        body = response.get("body")
        if isinstance(body, dict | list):
            lines += _assert_like("response.json()", expected(body), "the response")
        elif isinstance(body, str):
            lines.append(f"assert response.text == {body!r}")
    emitted = trace_facts.by_step(trace_facts.emits(spans))
    lines += _assert_like("project.emits(trace_id)", expected(emitted), "the emitted events")
    changes = trace_facts.by_step(trace_facts.state_changes(spans))
    lines += _assert_like("project.state_changes(trace_id)", expected(changes), "the state changes")
    return lines


def _assert_like(actual: str, expected: Any, what: str) -> list[str]:
    """`assert_like(actual, expected, what)` on one line when it fits, else one per argument."""
    literal = _literal(expected, 16)
    line = f"assert_like({actual}, {literal}, {what!r})"
    if "\n" not in line and len(line) <= WIDTH - 12:
        return [line]
    return ["assert_like(", f"    {actual},", f"    {literal},", f"    {what!r},", ")"]
