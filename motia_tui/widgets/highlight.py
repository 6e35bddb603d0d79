"""Syntax highlighting for `TextArea` from pygments instead of tree-sitter.

tree-sitter wheels have crashed `TextArea` across version pairs, and pygments is already a
dependency of Rich, so the editors lex with pygments and hand `TextArea` the same per-line
highlight map its tree-sitter path builds: `(start byte, end byte, name)` where the name is a
key of the TextArea theme's `syntax_styles`, so colours still come from the theme.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Any

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import (
    Keyword,
    Name,
    Number,
    Punctuation,
    String,
    Token,
    _TokenType,
    is_token_subtype,
)
from pygments.util import ClassNotFound

from motia_tui.textual_hooks import HighlightHookTextArea

Highlight = tuple[int, int | None, str]

_NAMES: tuple[tuple[_TokenType, str], ...] = (
    (Name.Tag, "json.label"),
    (Keyword.Constant, "constant.builtin"),
    (Keyword, "keyword"),
    (String, "string"),
    (Number, "number"),
    (Punctuation, "punctuation.bracket"),
    (Name.Builtin, "function.builtin"),
    (Name.Function, "function"),
    (Name.Class, "type.class"),
    (Token.Comment, "comment"),
    (Token.Operator, "operator"),
)


@lru_cache(maxsize=8)
def _lexer(language: str) -> Lexer | None:
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def _name_for(token: _TokenType) -> str | None:
    for parent, name in _NAMES:
        if is_token_subtype(token, parent):
            return name
    return None


def highlight_map(text: str, language: str) -> dict[int, list[Highlight]]:
    """Per line, the byte ranges to colour; an unknown language colours nothing."""
    lexer = _lexer(language)
    highlights: dict[int, list[Highlight]] = defaultdict(list)
    if lexer is None:
        return highlights
    row = 0
    column = 0  # in UTF-8 bytes, as TextArea's highlight map counts
    for token, value in lexer.get_tokens(text):
        name = _name_for(token)
        for k, piece in enumerate(value.split("\n")):
            if k:
                row += 1
                column = 0
            size = len(piece.encode("utf-8"))
            if name is not None and size:
                highlights[row].append((column, column + size, name))
            column += size
    return highlights


class HighlightedTextArea(HighlightHookTextArea):
    """A `TextArea` coloured by pygments for `highlight_language` (e.g. "json").

    Changing `highlight_language` takes effect at the next `load_text` or edit.
    """

    def __init__(
        self, text: str = "", *, highlight_language: str | None = None, **kwargs: Any
    ) -> None:
        self.highlight_language = highlight_language
        super().__init__(text, **kwargs)

    def highlights(self) -> dict[int, list[Highlight]]:
        """Recomputed by TextArea after every edit and document load."""
        language = getattr(self, "highlight_language", None)
        return highlight_map(self.text, language) if language else {}
