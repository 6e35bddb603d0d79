"""The project's `.env`, loaded at start as Motia's CLI does: never over the environment.

python-dotenv skips a line it cannot parse with a warning that names neither the file nor
anything a user could act on, through a logger nobody reads here. The loader below takes the
lines apart first, so each bad one becomes a warning naming the file and the line (never its
text: a malformed line is often a secret), and loads the others as python-dotenv would,
`${VAR}` expansion included; Motia's CLI also keeps going past a bad line.
"""

from __future__ import annotations

import io
from pathlib import Path

from dotenv import load_dotenv
from dotenv.parser import parse_stream


def load_env_file(path: Path) -> list[str]:
    """Load `path` if it exists; answer one warning per line that was skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: not loaded: {exc}"]
    good: list[str] = []
    problems: list[str] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            problems.append(
                f"{path}:{binding.original.line}: cannot parse this line (expected "
                "NAME=value); skipped, the other lines are loaded"
            )
        else:
            good.append(binding.original.string)
    load_dotenv(stream=io.StringIO("".join(good)), override=False)
    return problems
