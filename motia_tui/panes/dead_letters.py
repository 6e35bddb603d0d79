"""The Dead letters pane: events whose handler kept failing, to read, re-queue or drop.

The queue is read from `source.dlq()` at load and kept live from the engine's `dlq.added`
and `dlq.removed` events. Re-queue and drop go through the source (the engine's API when
attached), so the engine records them: a re-queue is a new delivery in the event's own trace,
a drop a manual trace of its own. Rows leave the list when the engine says they left the
queue, not before.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from engine import events as ev
from engine.events import WireEvent
from motia_tui import messages
from motia_tui.log_buffer import clean
from motia_tui.source import EngineSource
from motia_tui.widgets.confirm import ConfirmScreen
from motia_tui.widgets.keyed_table import KeyedTable, row_keys

AGE_REFRESH_S = 5.0
"""Ages are shown in whole seconds at best; redrawing them more often buys nothing."""
COLUMNS = (("step", "Step", 18), ("topic", "Topic", 16), ("attempts", "Att", 3),
           ("error", "Error", 0), ("age", "Age", 4))
"""Key, title and width of each column; the error takes the width the others leave."""
EMPTY = (
    "No dead letters. An event lands here when its handler has failed on every attempt\n"
    "(1 + infrastructure.queue.maxRetries, 4 by default); r re-queues it, d drops it."
)

Item = dict[str, Any]


def format_age(seconds: float) -> str:
    """At most four characters: `12s`, `5m`, `3h`, `2d`."""
    seconds = max(0.0, seconds)
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _fit(text: str, width: int) -> str:
    text = clean(text).replace("\n", " ")
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def dead_letter_text(item: Mapping[str, Any], now_s: float) -> Content:
    """The whole dead letter: where it failed, the event, the last error and its traceback."""
    failed_at = float(item.get("failedAt") or 0) / 1000
    parts: list[str | tuple[str, str]] = [
        (f"{item.get('step')}", "bold"),
        " could not handle ",
        (f"{item.get('topic')}", "bold"),
        f" after {item.get('attempts')} attempt{'s' if item.get('attempts') != 1 else ''}"
        f" ({format_age(now_s - failed_at)} ago)\n",
        ("trace ", "$text-muted"),
        (f"{item.get('traceId')}", "$text-accent"),
        ("   id ", "$text-muted"),
        f"{item.get('id')}\n\n",
        ("event\n", "bold"),
        clean(json.dumps(item.get("data"), indent=2, ensure_ascii=False, default=repr)),
        "\n\n",
        ("last error\n", "bold"),
        (clean(str(item.get("error") or "(no message)")), "$text-error"),
        "\n",
    ]
    traceback = item.get("traceback")
    if traceback:
        parts += ["\n", (clean(str(traceback)), "$text-muted"), "\n"]
    return Content.assemble(*parts)


class DeadLetterScreen(ModalScreen[str | None]):
    """One dead letter in full; dismisses with the action chosen (`retry`, `drop`, `trace`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", id="dead-letter-close"),
        Binding("r", "choose('retry')", "Re-queue", id="dead-letter-detail-retry"),
        Binding("d", "choose('drop')", "Drop", id="dead-letter-detail-drop"),
        Binding("t", "choose('trace')", "Its trace", id="dead-letter-detail-trace"),
    ]

    def __init__(self, item: Mapping[str, Any], now_s: float) -> None:
        super().__init__()
        self.item = dict(item)
        self.now_s = now_s

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dead-letter-body"):
            yield Static(dead_letter_text(self.item, self.now_s), id="dead-letter-text")
        yield Label(
            Content.assemble(
                ("r", "bold $accent"), " re-queue  ", ("d", "bold $accent"), " drop  ",
                ("t", "bold $accent"), " its trace  ", ("esc", "bold $accent"), " close",
            ),
            id="dead-letter-keys",
        )

    def action_choose(self, action: str) -> None:
        self.dismiss(action)


class DeadLetterTable(KeyedTable):
    """The queue, one row a dead letter, oldest first (the order the engine keeps)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *row_keys("dead-letters"),
        Binding("enter", "show", "Show", id="dead-letters-show"),
        Binding("r", "retry", "Re-queue", id="dead-letters-retry"),
        Binding("d,delete", "drop", "Drop", id="dead-letters-drop"),
        Binding("t", "trace", "Its trace", id="dead-letters-trace"),
    ]

    class Chosen(Message):
        """A key asked for something to be done to the dead letter under the cursor."""

        def __init__(self, action: str, item_id: str) -> None:
            super().__init__()
            self.action = action
            self.item_id = item_id

    def _choose(self, action: str) -> None:
        item_id = self.selected_key
        if item_id is not None:
            self.post_message(self.Chosen(action, item_id))

    def action_show(self) -> None:
        self._choose("show")

    def action_retry(self) -> None:
        self._choose("retry")

    def action_drop(self) -> None:
        self._choose("drop")

    def action_trace(self) -> None:
        self._choose("trace")


class DeadLettersPane(Vertical):
    """A status line and the queue; Enter shows one, `r` re-queues, `d` drops (asks first)."""

    class _Loaded(Message):
        def __init__(self, items: list[Item]) -> None:
            super().__init__()
            self.items = items

    class _Done(Message):
        def __init__(self, text: str, error: bool) -> None:
            super().__init__()
            self.text = text
            self.error = error

    def __init__(
        self, source: EngineSource, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.source = source
        self.clock = clock
        """Seconds since the epoch; the snapshot tests freeze it."""
        self.items: dict[str, Item] = {}
        self._widths: tuple[int, ...] = ()

    def compose(self) -> ComposeResult:
        yield Label("", id="dead-letters-status", classes="pane-status")
        table: DeadLetterTable = DeadLetterTable(id="dead-letters-table", cursor_type="row")
        table.zebra_stripes = False
        yield table
        yield Static(EMPTY, markup=False, id="dead-letters-empty")

    def on_mount(self) -> None:
        self.set_interval(AGE_REFRESH_S, self._refresh_ages)
        self._show()

    def on_resize(self) -> None:
        self._show()

    # -- the pane contract ------------------------------------------------------------

    async def reload(self) -> None:
        self.post_message(self._Loaded(await self.source.dlq()))

    def apply_events(self, events: list[WireEvent]) -> None:
        changed = False
        for event in events:
            if event["type"] == ev.DLQ_ADDED:
                added = event["data"]
                self.items[str(added["id"])] = dict(added)
                changed = True
            elif event["type"] == ev.DLQ_REMOVED:
                changed = self.items.pop(str(event["data"]["id"]), None) is not None or changed
        if changed:
            self._show()

    @on(_Loaded)
    def _loaded(self, message: _Loaded) -> None:
        self.items = {str(item["id"]): item for item in message.items}
        self._show()

    # -- drawing ----------------------------------------------------------------------

    @property
    def table(self) -> DeadLetterTable:
        return self.query_one(DeadLetterTable)

    def _column_widths(self) -> tuple[int, ...]:
        """Fixed columns as declared; the error column gets the rest (each cell is padded
        by one on both sides, and the scrollbar takes two)."""
        width = max(self.size.width, 40)
        fixed = sum(w for _key, _title, w in COLUMNS)
        error = max(10, width - fixed - 2 * len(COLUMNS) - 2)
        return tuple(w or error for _key, _title, w in COLUMNS)

    def _show(self) -> None:
        if not self.is_mounted:
            return
        table = self.table
        widths = self._column_widths()
        selected = table.selected_key
        table.clear(columns=widths != self._widths)
        if widths != self._widths:
            for (key, title, _w), width in zip(COLUMNS, widths, strict=True):
                table.add_column(title, key=key, width=width)
            self._widths = widths
        now = self.clock()
        ordered = sorted(self.items.values(), key=lambda i: float(i.get("failedAt") or 0))
        for item in ordered:
            table.add_row(*self._cells(item, widths, now), key=str(item["id"]))
        if selected in self.items:
            table.move_cursor(row=table.get_row_index(selected))
        count = len(self.items)
        table.set_class(not count, "-empty")  # still focusable, so a first letter has focus
        self.query_one("#dead-letters-empty").display = not count
        self.query_one("#dead-letters-status", Label).update(
            f"{count} dead letter{'s' if count != 1 else ''}"
            + ("  ·  enter shows one  ·  r re-queues  ·  d drops" if count else "")
        )

    def _cells(self, item: Mapping[str, Any], widths: tuple[int, ...], now: float) -> list[str]:
        age = format_age(now - float(item.get("failedAt") or 0) / 1000)
        values = (item.get("step"), item.get("topic"), item.get("attempts"), item.get("error"),
                  age)
        return [_fit(str(v if v is not None else ""), w) for v, w in zip(values, widths,
                                                                         strict=True)]

    def _refresh_ages(self) -> None:
        if not self.items or not self.is_on_screen:
            return
        table, now = self.table, self.clock()
        for item_id, item in self.items.items():
            age = format_age(now - float(item.get("failedAt") or 0) / 1000)
            table.update_cell(item_id, "age", age)

    # -- actions --------------------------------------------------------------------

    @on(DeadLetterTable.Chosen)
    def _chosen(self, message: DeadLetterTable.Chosen) -> None:
        self.act(message.action, message.item_id)

    def act(self, action: str, item_id: str) -> None:
        """Do `action` (`show`, `retry`, `drop`, `trace`) to one dead letter."""
        item = self.items.get(item_id)
        if item is None:
            return
        if action == "show":

            def then(chosen: str | None) -> None:
                if chosen:
                    self.act(chosen, item_id)

            self.app.push_screen(DeadLetterScreen(item, self.clock()), then)
        elif action == "retry":
            self._retry(item)
        elif action == "drop":

            def answered(yes: bool | None) -> None:
                if yes:
                    self._drop(item)

            self.app.push_screen(
                ConfirmScreen(
                    f"Drop the dead letter of {item.get('step')} ({item.get('topic')})?\n"
                    "The event is gone for good; Traces keeps a record of the drop.",
                    yes="Drop",
                    no="Keep",
                ),
                answered,
            )
        elif action == "trace" and item.get("traceId"):
            self.post_message(messages.OpenTrace(str(item["traceId"])))

    @work(group="dead-letters")
    async def _retry(self, item: Item) -> None:
        try:
            trace_id = await self.source.retry_dlq(str(item["id"]))
        except Exception as exc:
            self.post_message(self._Done(f"not re-queued: {exc}", True))
        else:
            self.post_message(
                self._Done(f"re-queued {item.get('topic')} for {item.get('step')}: "
                           f"trace {trace_id[:8]}", False)
            )

    @work(group="dead-letters")
    async def _drop(self, item: Item) -> None:
        try:
            await self.source.drop_dlq(str(item["id"]))
        except Exception as exc:
            self.post_message(self._Done(f"not dropped: {exc}", True))
        else:
            self.post_message(self._Done(f"dropped {item.get('topic')} for {item.get('step')}",
                                         False))

    @on(_Done)
    def _done(self, message: _Done) -> None:
        self.notify(message.text, severity="error" if message.error else "information",
                    timeout=4)
