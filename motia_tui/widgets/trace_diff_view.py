"""Two traces side by side (`=` in Traces): the rows of `engine.trace_diff`, in two columns,
each row that differs marked `≠` and highlighted; Esc closes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.trace_diff import show

NAME_WIDTH = 22


def diff_content(result: Mapping[str, Any], width: int) -> Content:
    """The diff as styled text `width` cells wide: a long value wraps within its column."""
    side = max(12, (width - NAME_WIDTH - 4) // 2)
    parts: list[tuple[str, str] | str] = [
        (
            f"{'':<{NAME_WIDTH + 2}}{'A ' + str(result['a'])[:8]:<{side + 1}}"
            f"{'B ' + str(result['b'])[:8]}\n",
            "bold",
        )
    ]
    for section in result["sections"]:
        parts.append((f"── {section['title']}\n", "bold"))
        if not section["rows"]:
            parts.append("  (none in either)\n")
        for row in section["rows"]:
            left = _wrap(show(row["a"], row["inA"]), side)
            right = _wrap(show(row["b"], row["inB"]), side)
            names = _wrap(str(row["name"]), NAME_WIDTH)
            style = "" if row["same"] else "bold $text-error"
            for line in range(max(len(left), len(right), len(names))):
                mark = ("≠ " if not row["same"] else "  ") if line == 0 else "  "
                text = (
                    f"{mark}{_at(names, line):<{NAME_WIDTH}}{_at(left, line):<{side}} "
                    f"{_at(right, line)}\n"
                )
                parts.append((text, style) if style else text)
    verdict = "the traces did the same" if result["same"] else "≠ marks what differs"
    parts.append((verdict, "italic"))
    return Content.assemble(*parts)


def _wrap(text: str, width: int) -> list[str]:
    text = " ".join(text.split())
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def _at(lines: list[str], index: int) -> str:
    return lines[index] if index < len(lines) else ""


class TraceDiffScreen(ModalScreen[None]):
    """The diff of the marked trace (A) and the one on screen (B)."""

    DEFAULT_CSS = """
    TraceDiffScreen {
        align: center middle;
    }
    TraceDiffScreen > Vertical {
        width: 100%;
        height: 100%;
        border: thick $primary;
        background: $surface;
    }
    TraceDiffScreen .trace-diff--title {
        text-style: bold;
        height: 1;
    }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="trace-diff-close"),
    ]

    def __init__(self, result: Mapping[str, Any]) -> None:
        super().__init__()
        self.result = result

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"diff: A {self.result['a']} · B {self.result['b']} · esc closes",
                markup=False,
                classes="trace-diff--title",
            )
            with VerticalScroll(id="trace-diff-scroll"):
                yield Static("", id="trace-diff-body", markup=False)

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        width = max(60, self.size.width - 4)
        self.query_one("#trace-diff-body", Static).update(diff_content(self.result, width))

    def action_close(self) -> None:
        self.dismiss(None)
