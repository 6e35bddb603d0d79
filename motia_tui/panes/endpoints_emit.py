"""The Endpoints pane's Emit tab: pick a topic, edit its data, emit it to every subscriber.

The data is pre-filled from the `input` schema of the topic's first subscriber that declares
one, and kept per topic while another is looked at.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Label, Select, Static

from motia_tui.source import EngineSource
from motia_tui.widgets.json_editor import JsonEditor, JsonInvalid, pretty
from motia_tui.widgets.schema_example import example_from_schema


class EmitTab(Vertical):
    """Topic picker, data editor and the last emit's result (with its trace id)."""

    DEFAULT_CSS = """
    EmitTab {
        height: auto;
    }
    """

    class Emitted(Message):
        def __init__(self, topic: str, trace_id: str | None, error: str | None) -> None:
            super().__init__()
            self.topic = topic
            self.trace_id = trace_id
            self.error = error

    def __init__(self, source: EngineSource) -> None:
        super().__init__()
        self.source = source
        self.topics: dict[str, Any] = {}
        self._drafts: dict[str, str] = {}
        self._topic: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="endpoints-row"):
            yield Label("topic", classes="endpoints-label")
            yield Select[str]([], prompt="topic", compact=True, id="endpoints-topic")
        yield JsonEditor(id="endpoints-emit-data")
        yield Static("ctrl+j emits the event to every subscriber.", id="endpoints-emit-result")

    def set_topics(self, topics: dict[str, Any]) -> None:
        self.topics = topics
        select: Select[str] = self.query_one("#endpoints-topic", Select)
        select.set_options([(Content(t), t) for t in topics])
        if self._topic in topics:
            select.value = self._topic
        elif topics:
            select.value = next(iter(topics))

    def focus_topic(self) -> None:
        self.query_one("#endpoints-topic", Select).focus()

    @on(Select.Changed, "#endpoints-topic")
    def _topic_changed(self, message: Select.Changed) -> None:
        editor = self.query_one("#endpoints-emit-data", JsonEditor)
        if self._topic is not None:
            self._drafts[self._topic] = editor.text
        self._topic = message.value if isinstance(message.value, str) else None
        if self._topic is None:
            return
        text = self._drafts.get(self._topic)
        if text is None:
            example = example_from_schema(self.topics.get(self._topic))
            text = pretty(example if example is not None else {})
        editor.text = text

    def send(self) -> None:
        if self._topic is None:
            self.notify("no topic: no step subscribes to anything yet", severity="warning")
            return
        try:
            data = self.query_one("#endpoints-emit-data", JsonEditor).value()
        except JsonInvalid as exc:
            self.notify(f"not sent: {exc}", title="Invalid JSON", severity="error")
            return
        self._emit(self._topic, data)

    @work(exclusive=True, group="endpoints-emit")
    async def _emit(self, topic: str, data: Any) -> None:
        try:
            trace_id = await self.source.emit(topic, data)
        except Exception as exc:
            self.post_message(self.Emitted(topic, None, str(exc) or repr(exc)))
        else:
            self.post_message(self.Emitted(topic, trace_id, None))

    @on(Emitted)
    def _emitted(self, message: Emitted) -> None:
        result = self.query_one("#endpoints-emit-result", Static)
        if message.error is not None:
            result.update(Content.assemble((f"failed: {message.error}", "bold $text-error")))
            return
        result.update(
            Content.assemble(
                "emitted ",
                (message.topic, "bold"),
                ": trace ",
                (str(message.trace_id), "$text-accent"),
                " (ctrl+t)",
            )
        )
