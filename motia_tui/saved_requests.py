"""Saved requests: one JSON file a request under `motia-requests/` at the project's root.

Plain files a team commits and reviews; the folder's name cannot be imported by accident
(unlike `requests/` or `http/`). A file holds the draft as typed, variables still written
`{{name}}`, so no secret from an environment ends up in it. Writes go through a temporary
file, so a failed save leaves the old file (or nothing) behind.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motia_tui.endpoint_model import Draft
from motia_tui.request_env import REQUESTS_FOLDER

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
SUFFIX = ".json"
MAX_FILE_BYTES = 1_000_000
"""A bigger file is not a request someone wrote; it is skipped with a reason."""


class SavedRequestError(ValueError):
    """A name that cannot be a file, or a file that is not a saved request."""


@dataclass(frozen=True)
class SavedRequest:
    name: str
    step: str | None
    draft: Draft


def requests_folder(project: Path) -> Path:
    return project / REQUESTS_FOLDER


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a saved request, or None."""
    if not NAME.match(name):
        return (
            f"{name!r}: use letters, digits, spaces, `_`, `-` and `.` (64 at most), "
            "starting with a letter or a digit"
        )
    if name.endswith(".") or name.endswith(" "):
        return f"{name!r} cannot end with a dot or a space"
    return None


def path_of(project: Path, name: str) -> Path:
    problem = name_problem(name)
    if problem is not None:
        raise SavedRequestError(problem)
    return requests_folder(project) / f"{name}{SUFFIX}"


def _as_json(saved: SavedRequest) -> dict[str, Any]:
    draft = saved.draft
    return {
        "name": saved.name,
        "step": saved.step,
        "method": draft.method,
        "path": draft.path,
        "params": draft.params,
        "query": draft.query,
        "extraQuery": draft.extra_query,
        "headers": draft.headers.splitlines(),
        "body": draft.body,
    }


def _strings(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise SavedRequestError(f"{what!r} must map names to strings")
    return dict(value)


def _from_json(name: str, data: Any) -> SavedRequest:
    if not isinstance(data, dict):
        raise SavedRequestError("not a JSON object")
    method, path = data.get("method"), data.get("path")
    if not isinstance(method, str) or not isinstance(path, str):
        raise SavedRequestError("'method' and 'path' must be strings")
    headers = data.get("headers") or []
    if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
        raise SavedRequestError("'headers' must be a list of `Name: value` lines")
    body, extra = data.get("body") or "", data.get("extraQuery") or ""
    if not isinstance(body, str) or not isinstance(extra, str):
        raise SavedRequestError("'body' and 'extraQuery' must be strings")
    step = data.get("step")
    draft = Draft(
        method=method.upper(),
        path=path,
        params=_strings(data.get("params") or {}, "params"),
        query=_strings(data.get("query") or {}, "query"),
        extra_query=extra,
        headers="\n".join(headers),
        body=body,
    )
    return SavedRequest(name, step if isinstance(step, str) else None, draft)


def save(project: Path, saved: SavedRequest) -> Path:
    """Write `saved` as `motia-requests/NAME.json` (replacing one of that name)."""
    target = path_of(project, saved.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    text = json.dumps(_as_json(saved), indent=2, ensure_ascii=False) + "\n"
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def load_all(project: Path) -> tuple[list[SavedRequest], list[str]]:
    """Every saved request, by name, and one line for each file that could not be read."""
    folder = requests_folder(project)
    if not folder.is_dir():
        return [], []
    found: list[SavedRequest] = []
    problems: list[str] = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        name = path.name[: -len(SUFFIX)]
        if name.startswith("."):
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise SavedRequestError(f"over {MAX_FILE_BYTES} bytes")
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(_from_json(name, data))
        except (OSError, ValueError) as exc:
            problems.append(f"{REQUESTS_FOLDER}/{path.name}: {exc}")
    return found, problems


def delete(project: Path, name: str) -> bool:
    """Remove a saved request; False when there was none of that name."""
    try:
        path_of(project, name).unlink()
    except FileNotFoundError:
        return False
    return True
