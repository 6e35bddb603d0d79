"""App-wide messages: how one pane asks the workbench to show something in another.

Panes never reach into each other; they post one of these and the app switches tabs and
hands the request to the pane that owns it.
"""

from __future__ import annotations

from textual.message import Message


class OpenTrace(Message):
    """Show one trace's waterfall in the Traces pane, with `span_id` selected when given
    (the span that wrote a log line), else its first span."""

    def __init__(self, trace_id: str, span_id: str | None = None) -> None:
        super().__init__()
        self.trace_id = trace_id
        self.span_id = span_id


class OpenLogs(Message):
    """Show the Logs pane with a filter, e.g. `level:error` or `trace:<id>`."""

    def __init__(self, filter_text: str) -> None:
        super().__init__()
        self.filter_text = filter_text


class OpenEndpoint(Message):
    """Show an api step in the Endpoints pane's request builder."""

    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step
