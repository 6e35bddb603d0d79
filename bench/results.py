"""bench/RESULTS.md: each benchmark owns one `## ` section and replaces only that one."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(title: str, body: str) -> None:
    """Replace (or append) the section headed `title`, keeping every other section."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"{re.escape(title)}\n.*?(?=\n## |\Z)", re.S)
    section = f"{title}\n{body.rstrip()}\n"
    text = (
        pattern.sub(lambda _match: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    RESULTS.write_text(text)
