"""A question answered with text, in a modal: a name to save under, a curl command to import.

`check` says what is wrong with an answer (shown under the box, the modal stays open), so a
bad answer is corrected in place and nothing typed is lost. Esc cancels with None.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea


class TextPrompt(ModalScreen[str | None]):
    """Dismisses with the accepted text; multi-line boxes take `Ctrl+S` (Enter is a newline)."""

    DEFAULT_CSS = """
    TextPrompt {
        align: center middle;
    }
    TextPrompt > Vertical {
        width: 76;
        max-width: 95%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    TextPrompt TextArea {
        height: 8;
    }
    TextPrompt .text-prompt--problem {
        color: $text-error;
        height: auto;
    }
    TextPrompt .text-prompt--hint {
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="prompt-cancel"),
        Binding("ctrl+s", "accept", "Accept", id="prompt-accept"),
    ]

    def __init__(
        self,
        question: str,
        *,
        value: str = "",
        placeholder: str = "",
        multiline: bool = False,
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder
        self.multiline = multiline
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, markup=False)
            if self.multiline:
                yield TextArea(self.value, soft_wrap=True, id="text-prompt-box")
                hint = "Ctrl+S accepts, Esc cancels"
            else:
                yield Input(self.value, placeholder=self.placeholder, id="text-prompt-box")
                hint = "Enter accepts, Esc cancels"
            yield Static("", markup=False, classes="text-prompt--problem")
            yield Static(hint, classes="text-prompt--hint")

    def on_mount(self) -> None:
        self.query_one("#text-prompt-box").focus()

    @property
    def text(self) -> str:
        box = self.query_one("#text-prompt-box")
        return box.text if isinstance(box, TextArea) else box.value if isinstance(
            box, Input) else ""

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_accept()

    def action_accept(self) -> None:
        text = self.text.strip()
        problem = self.check(text) if self.check is not None else None
        if problem is not None:
            self.query_one(".text-prompt--problem", Static).update(problem)
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
