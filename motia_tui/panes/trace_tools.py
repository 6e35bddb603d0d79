"""What the Traces pane's trace tools do, through the `EngineSource` (so attached too).

`R` re-runs a trace, `E` re-runs from the selected span with its input edited, `=` diffs the
trace on screen with the one marked by `m`, `T` writes it as a pytest file into the project's
`tests/` and `x` exports it beside the project. A request sent with credentials asks for them
before it is sent again. Each runs in a worker: the modals it opens wait there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual.app import App

from engine import trace_diff
from engine.trace_test_writer import TraceTestError, function_name, trigger_of, write
from motia_tui.source import EngineSource, SourceError
from motia_tui.widgets.trace_diff_view import TraceDiffScreen
from motia_tui.widgets.trace_prompts import CredentialsScreen, SpanInputScreen

if TYPE_CHECKING:
    from motia_tui.panes.traces import TracesPane

NEEDS_CREDENTIALS = 428


async def rerun(
    app: App[Any],
    source: EngineSource,
    trace_id: str,
    span: Mapping[str, Any] | None = None,
) -> str | None:
    """Send the trace (or, with `span`, that span's input as edited) again; the new trace's
    id, or None when nothing was sent."""
    input_: Any = None
    if span is not None:
        edited = await app.push_screen_wait(
            SpanInputScreen(
                f"Re-run {span.get('step')} from span {str(span.get('spanId'))[:8]} "
                "with this input (a new trace)",
                span.get("input"),
            )
        )
        if edited is None:
            return None
        input_ = edited.value
    span_id = None if span is None else str(span.get("spanId"))
    headers: dict[str, str] = {}
    while True:
        try:
            answer = await source.rerun(trace_id, span_id, input_, headers)
        except SourceError as exc:
            needs = _needs(exc)
            if exc.status != NEEDS_CREDENTIALS or not needs or headers:
                app.notify(exc.message, title="Not re-run", severity="error", timeout=8)
                return None
            given = await app.push_screen_wait(CredentialsScreen(exc.message, needs))
            if given is None:
                return None
            headers = given
            continue
        new_id = str(answer["traceId"])
        status = (answer.get("response") or {}).get("status")
        note = f" (answered {status})" if status is not None else ""
        app.notify(f"re-ran {trace_id[:8]} as trace {new_id[:8]}{note}", timeout=6)
        return new_id


def _needs(exc: SourceError) -> list[str]:
    details = exc.details if isinstance(exc.details, dict) else {}
    needs = details.get("needs")
    return [str(name) for name in needs] if isinstance(needs, list) else []


async def diff(app: App[Any], source: EngineSource, marked: str, trace_id: str) -> None:
    a, b = await source.trace(marked), await source.trace(trace_id)
    if a is None or b is None:
        app.notify("one of the traces is no longer kept", severity="error")
        return
    await app.push_screen(TraceDiffScreen(trace_diff.diff(a, b)))


async def _document(app: App[Any], source: EngineSource, trace_id: str) -> dict[str, Any] | None:
    try:
        document = await source.export_trace(trace_id)
    except SourceError as exc:
        app.notify(exc.message, title="Not exported", severity="error")
        return None
    if document is None:
        app.notify(f"no trace {trace_id}", severity="error")
    return document


async def write_test(app: App[Any], source: EngineSource, trace_id: str) -> Path | None:
    """`tests/test_NAME.py` in the project (`_2`, `_3`... when taken)."""
    document = await _document(app, source, trace_id)
    if document is None:
        return None
    project = source.project_dir
    try:
        name = function_name(trigger_of(document))
        target = _free(project / "tests" / f"{name}.py")
        text = write(document, project, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except (TraceTestError, OSError) as exc:
        app.notify(str(exc), title="No test written", severity="error")
        return None
    app.notify(f"wrote {target} ({name}): python -m pytest {target.name}", timeout=8)
    return target


async def export(app: App[Any], source: EngineSource, trace_id: str) -> Path | None:
    """`trace-ID.json` in the project folder, secrets masked."""
    document = await _document(app, source, trace_id)
    if document is None:
        return None
    target = _free(source.project_dir / f"trace-{trace_id[:8]}.json")
    try:
        target.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        app.notify(str(exc), title="Not exported", severity="error")
        return None
    app.notify(f"exported to {target} (motia trace import {target.name})", timeout=8)
    return target


def _free(path: Path) -> Path:
    """`path`, or the first `stem_N` beside it that does not exist yet."""
    number = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}_{number}{path.suffix}")
        number += 1
    return candidate


class TraceToolKeys:
    """The Traces pane's actions for its tool keys (the bindings, with their ids, are the
    pane's own): each finds the trace it acts on and runs its tool in a worker."""

    @property
    def pane(self) -> TracesPane:
        return cast("TracesPane", self)

    def _target(self, what: str) -> str | None:
        """The open trace, or the one selected in the list; None (and why) without one."""
        pane = self.pane
        trace_id = pane.open_id or pane.trace_list.selected
        if trace_id is None:
            pane.notify(f"{what}: select a trace first", severity="warning", timeout=3)
        return trace_id

    def action_rerun(self) -> None:
        pane, trace_id = self.pane, self._target("re-run")
        if trace_id is not None:
            pane.run_worker(rerun(pane.app, pane.source, trace_id), group="trace-tools")

    def action_rerun_from_span(self) -> None:
        pane = self.pane
        rows = pane.waterfall.rows
        if pane.open_id is None or not rows:
            pane.notify(
                "re-run from a span: open a trace and select a span first",
                severity="warning",
                timeout=4,
            )
            return
        span = rows[min(pane.waterfall.cursor, len(rows) - 1)].span
        pane.run_worker(rerun(pane.app, pane.source, pane.open_id, span), group="trace-tools")

    def action_mark(self) -> None:
        pane, trace_id = self.pane, self._target("mark")
        if trace_id is None:
            return
        if pane.trace_list.marked == trace_id:
            pane.trace_list.mark(None)
            pane.notify(f"unmarked trace {trace_id[:8]}", timeout=3)
            return
        pane.trace_list.mark(trace_id)
        pane.notify(f"marked trace {trace_id[:8]}: open another and press = to diff", timeout=4)

    def action_diff_with_marked(self) -> None:
        pane, trace_id = self.pane, self._target("diff")
        marked = pane.trace_list.marked
        if trace_id is None:
            return
        if marked is None or marked == trace_id:
            pane.notify(
                "diff: mark a trace with m, then open another", severity="warning", timeout=4
            )
            return
        pane.run_worker(diff(pane.app, pane.source, marked, trace_id), group="trace-tools")

    def action_write_test(self) -> None:
        pane, trace_id = self.pane, self._target("write a test")
        if trace_id is not None:
            pane.run_worker(write_test(pane.app, pane.source, trace_id), group="trace-tools")

    def action_export(self) -> None:
        pane, trace_id = self.pane, self._target("export")
        if trace_id is not None:
            pane.run_worker(export(pane.app, pane.source, trace_id), group="trace-tools")
