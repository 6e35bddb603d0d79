"""`motia trace`: list, show, re-run, diff, export, import and turn traces into tests.

Every command works on the project's own store (`--dir`, default the current folder) or on a
running engine (`--attach URL [--token T]`). A trace id may be given by its first characters.
Problems are one line on stderr with status 1 (2 for a wrong use of the command).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from engine import trace_diff
from engine.settings import SettingsError, load_settings
from engine.trace_test_writer import TraceTestError, function_name, trigger_of, write
from motia_tui.trace_sources import (
    AttachedTraces,
    LocalTraces,
    TraceCommandError,
    TraceSource,
    resolve,
)

MARKS = {"ok": "✓", "error": "✗", "running": "●"}


def main(args: argparse.Namespace, verb: str) -> int:
    """Run one `motia trace` verb (`motia_tui.trace_parser` names it)."""
    return asyncio.run(_with_source(args, VERBS[verb]))


async def _with_source(args: argparse.Namespace, run: Callable[..., Awaitable[int]]) -> int:
    try:
        source = _source(args)
    except TraceCommandError as exc:
        return _fail(exc)
    try:
        return await run(source, args)
    except TraceCommandError as exc:
        return _fail(exc)
    finally:
        await source.close()


def _source(args: argparse.Namespace) -> TraceSource:
    if args.attach:
        return AttachedTraces(args.attach, args.token)
    project_dir = _project_dir(args)
    try:
        settings = load_settings(project_dir)
    except SettingsError as exc:
        raise TraceCommandError(str(exc), 2) from None
    return LocalTraces(project_dir, settings)


def _project_dir(args: argparse.Namespace) -> Path:
    path = Path(args.dir or ".").resolve()
    if not path.is_dir():
        raise TraceCommandError(f"no such project folder: {path}", 2)
    return path


def _fail(exc: TraceCommandError) -> int:
    print(f"motia trace: {exc.message}", file=sys.stderr)
    return exc.code


async def _found(source: TraceSource, wanted: str) -> dict[str, Any]:
    trace_id = await resolve(source, wanted)
    trace = await source.trace(trace_id)
    if trace is None:
        raise TraceCommandError(f"no trace {trace_id}")
    return trace


def _clock(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "--:--:--"
    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S")


def _links(summary: dict[str, Any]) -> str:
    notes = []
    if summary.get("rerunOf"):
        notes.append(f"re-run of {summary['rerunOf'][:8]}")
    if summary.get("imported"):
        notes.append("imported")
    return f"  ({', '.join(notes)})" if notes else ""


async def _list(source: TraceSource, args: argparse.Namespace) -> int:
    traces = await source.traces(max(1, args.limit), args.status, args.step)
    if args.json:
        print(json.dumps(traces, indent=2, ensure_ascii=False))
        return 0
    if not traces:
        print("no traces")
    for t in traces:
        print(
            f"{MARKS.get(t['status'], '?')} {_clock(t.get('startedAt'))}  {t['traceId']}  "
            f"{t.get('entry')!s:<24} {t.get('durationMs') or 0:>8.1f} ms  "
            f"{t.get('spans')} span(s){_links(t)}"
        )
    return 0


async def _show(source: TraceSource, args: argparse.Namespace) -> int:
    trace = await _found(source, args.id)
    if args.json:
        print(json.dumps(trace, indent=2, ensure_ascii=False))
        return 0
    print(f"trace {trace['traceId']}  {trace['status']}  {trace.get('durationMs')} ms"
          f"{_links(trace)}")
    if trace.get("reruns"):
        print(f"re-run as {', '.join(trace['reruns'])}")
    depth: dict[str, int] = {}
    for span in trace["spans"]:
        level = depth[span["spanId"]] = depth.get(span.get("parentId") or "", -1) + 1
        attempt = f" attempt {span['attempt']}" if (span.get("attempt") or 1) > 1 else ""
        error = f"  {span['error'].get('message')}" if span.get("error") else ""
        print(f"  {'  ' * level}{MARKS.get(span['status'], '?')} {span['step']} "
              f"[{span['kind']}{attempt}] {span.get('durationMs')} ms  span {span['spanId']}"
              f"{error}")
    return 0


def _headers(given: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in given:
        name, colon, value = item.partition(":")
        if not colon or not name.strip():
            raise TraceCommandError(f"--header {item!r}: write it as 'Name: value'", 2)
        headers[name.strip().lower()] = value.strip()
    return headers


def _input(path: str | None) -> Any:
    if path is None:
        raise TraceCommandError("--from SPAN needs --input FILE (the span's input, edited)", 2)
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TraceCommandError(f"cannot read {path}: {exc.strerror}", 2) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TraceCommandError(f"{path} is not JSON: {exc}", 2) from None


async def _rerun(source: TraceSource, args: argparse.Namespace) -> int:
    headers = _headers(args.header)
    given = _input(args.input) if args.span else None
    trace_id = await resolve(source, args.id)
    try:
        answer = await source.rerun(trace_id, args.span, given, headers)
    except TraceCommandError as exc:
        needs = (exc.details or {}).get("needs") if isinstance(exc.details, dict) else None
        if needs:
            names = ", ".join(needs)
            raise TraceCommandError(
                f"{exc.message} (pass --header '{needs[0]}: ...' for each of {names})"
            ) from None
        raise
    print(f"re-ran {trace_id} as trace {answer['traceId']}")
    response = answer.get("response")
    if response:
        print(f"answered {response['status']}: {json.dumps(response.get('body'))[:200]}")
    return 0


async def _diff(source: TraceSource, args: argparse.Namespace) -> int:
    a, b = await _found(source, args.a), await _found(source, args.b)
    result = trace_diff.diff(a, b)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json
          else trace_diff.render_text(result))
    return 0


async def _export(source: TraceSource, args: argparse.Namespace) -> int:
    trace_id = await resolve(source, args.id)
    document = await source.export(trace_id)
    if document is None:
        raise TraceCommandError(f"no trace {trace_id}")
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


async def _import(source: TraceSource, args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise TraceCommandError(f"cannot read {args.file}: {exc.strerror}", 2) from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise TraceCommandError(f"{args.file} is not JSON: {exc}", 2) from None
    trace_id = await source.import_trace(document)
    print(f"imported trace {trace_id}")
    return 0


async def _test(source: TraceSource, args: argparse.Namespace) -> int:
    trace_id = await resolve(source, args.id)
    document = await source.export(trace_id)
    if document is None:
        raise TraceCommandError(f"no trace {trace_id}")
    project_dir = _project_dir(args)
    try:
        name = function_name(trigger_of(document))
        target = Path(args.output) if args.output else project_dir / "tests" / f"{name}.py"
        if target.exists():
            raise TraceCommandError(f"{target} exists: choose another with -o FILE")
        source_text = write(document, project_dir, target)
    except TraceTestError as exc:
        raise TraceCommandError(str(exc)) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source_text, encoding="utf-8")
    print(f"wrote {target} ({name}); run it with: python -m pytest {target}")
    return 0


VERBS: dict[str, Callable[[TraceSource, argparse.Namespace], Awaitable[int]]] = {
    "list": _list,
    "show": _show,
    "rerun": _rerun,
    "diff": _diff,
    "export": _export,
    "import": _import,
    "test": _test,
}
