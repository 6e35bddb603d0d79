"""The questions the Traces pane's tools ask: a span's input to send again, edited, and the
credentials a recorded request was sent with (never recorded, so asked for)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from motia_tui.widgets.json_editor import JsonEditor, JsonInvalid, pretty

PROMPT_CSS = """
{name} {{
    align: center middle;
}}
{name} > Vertical {{
    width: 90%;
    max-width: 100;
    height: auto;
    max-height: 90%;
    border: thick $primary;
    background: $surface;
    padding: 0 1;
}}
{name} .prompt--title {{
    text-style: bold;
    margin-bottom: 1;
}}
{name} .prompt--problem {{
    color: $text-error;
}}
{name} .prompt--hint {{
    color: $text-muted;
}}
"""


@dataclass(frozen=True)
class EditedInput:
    """The input to send (any JSON value, `null` included)."""

    value: Any


class SpanInputScreen(ModalScreen[EditedInput | None]):
    """A span's input in the JSON editor, to send to its step again; None when cancelled."""

    DEFAULT_CSS = PROMPT_CSS.format(name="SpanInputScreen")
    BINDINGS = [
        Binding("ctrl+s,ctrl+j", "send", "Re-run", id="span-input-send"),
        Binding("escape", "cancel", "Cancel", id="span-input-cancel"),
    ]

    def __init__(self, title: str, value: Any) -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, markup=False, classes="prompt--title")
            yield JsonEditor(pretty(self.value), id="span-input-json")
            yield Static("", markup=False, classes="prompt--problem")
            yield Static("ctrl+s re-run with this input · esc cancel", classes="prompt--hint")

    def on_mount(self) -> None:
        self.query_one(JsonEditor).focus()

    def action_send(self) -> None:
        try:
            value = self.query_one(JsonEditor).value()
        except JsonInvalid as exc:
            self.query_one(".prompt--problem", Static).update(f"not sent: {exc}")
            return
        self.dismiss(EditedInput(value))

    def action_cancel(self) -> None:
        self.dismiss(None)


class CredentialsScreen(ModalScreen[dict[str, str] | None]):
    """One hidden field per header the request was sent with; None when cancelled."""

    DEFAULT_CSS = PROMPT_CSS.format(name="CredentialsScreen")
    BINDINGS = [
        Binding("ctrl+s", "send", "Send", id="credentials-send"),
        Binding("escape", "cancel", "Cancel", id="credentials-cancel"),
    ]

    def __init__(self, reason: str, names: list[str]) -> None:
        super().__init__()
        self.reason = reason
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.reason, markup=False, classes="prompt--title")
            for number, name in enumerate(self.names):
                yield Label(name)
                yield Input(password=True, id=f"credential-{number}", placeholder="value")
            yield Static(
                "Enter or ctrl+s send · an empty value sends the request without it · esc cancel",
                classes="prompt--hint",
            )

    def on_mount(self) -> None:
        self.query_one("#credential-0", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        fields = list(self.query(Input))
        if event.input is fields[-1]:
            self.action_send()
        else:
            fields[fields.index(event.input) + 1].focus()

    def action_send(self) -> None:
        values = [field.value for field in self.query(Input)]
        self.dismiss(dict(zip(self.names, values, strict=True)))

    def action_cancel(self) -> None:
        self.dismiss(None)
