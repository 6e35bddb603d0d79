"""Environments for the request builder: `{{name}}` variables filled from files in the project.

An environment NAME reads, lowest precedence first, the project's `.env`, then
`motia-requests/env/NAME.env` (shared values, committed) and `motia-requests/env/NAME.local.env`
(secrets, which the project template's `.gitignore` leaves out). With no environment active
only `.env` counts. A variable is a secret when it comes from a `.local.env` file or its name
contains `token`, `secret`, `password` or `key`: wherever a request is shown, kept or exported
its value reads `***` (`MASK`), and the engine tape masks it too.

Pure apart from reading the files; the JSON check of the body editor uses `placeholders_as_json`
so a `{{name}}` where a value belongs is not an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from engine.masking import MASK, MIN_SECRET_LENGTH

REQUESTS_FOLDER = "motia-requests"
ENV_FOLDER = "env"
SHARED_SUFFIX = ".env"
LOCAL_SUFFIX = ".local.env"
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
SECRET_WORDS = ("token", "secret", "password", "key")


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


@dataclass(frozen=True)
class Variable:
    name: str
    value: str
    secret: bool
    source: str
    """The file it was read from, relative to the project (what the pane shows)."""

    @property
    def shown(self) -> str:
        return MASK if self.secret else self.value


@dataclass(frozen=True)
class Environment:
    """The variables in effect; `name` None is the project's `.env` alone."""

    name: str | None
    variables: dict[str, Variable] = field(default_factory=dict)

    def names_in(self, text: str) -> list[str]:
        """The variables `text` uses, in order, each once."""
        return list(dict.fromkeys(m.group(1) for m in VARIABLE.finditer(text)))

    def missing(self, texts: Iterable[str]) -> list[str]:
        """Variables the texts use that this environment does not define."""
        used = dict.fromkeys(n for text in texts for n in self.names_in(text))
        return [name for name in used if name not in self.variables]

    def fill(self, text: str) -> str:
        """`text` with every known `{{name}}` replaced by its value (unknown ones stay)."""
        return self._substitute(text, reveal=True)

    def masked(self, text: str) -> str:
        """`text` as it may be shown: known variables filled, secrets as `***`."""
        return self._substitute(text, reveal=False)

    def exported(self, text: str) -> str:
        """`text` as it may leave the workbench (copy as curl): shared values filled, secrets
        left as their `{{name}}`, so the command carries no secret and pasting it back into an
        environment that has the secret fills it again."""
        def value(match: re.Match[str]) -> str:
            variable = self.variables.get(match.group(1))
            if variable is None or variable.secret:
                return match.group(0)
            return variable.value

        return VARIABLE.sub(value, text)

    def _substitute(self, text: str, *, reveal: bool) -> str:
        def value(match: re.Match[str]) -> str:
            variable = self.variables.get(match.group(1))
            if variable is None:
                return match.group(0)
            return variable.value if reveal else variable.shown

        return VARIABLE.sub(value, text)

    def secrets(self) -> list[str]:
        """The secret values long enough to be searched for in free text (an answer, a tape,
        a cast), longest first so no secret is half masked. Shorter ones are still shown
        as `***` wherever a variable is shown by name."""
        values = {
            v.value for v in self.variables.values()
            if v.secret and len(v.value) >= MIN_SECRET_LENGTH
        }
        return sorted(values, key=len, reverse=True)

    def used(self, texts: Iterable[str]) -> list[Variable]:
        """The variables the texts use that have a value, in order (what a sent request
        shows it used)."""
        names = dict.fromkeys(n for text in texts for n in self.names_in(text))
        return [self.variables[n] for n in names if n in self.variables]


def env_folder(project: Path) -> Path:
    return project / REQUESTS_FOLDER / ENV_FOLDER


def environment_names(project: Path) -> list[str]:
    """Every NAME with a `NAME.env` or a `NAME.local.env`, sorted."""
    folder = env_folder(project)
    if not folder.is_dir():
        return []
    names: set[str] = set()
    for path in folder.iterdir():
        if not path.is_file():
            continue
        if path.name.endswith(LOCAL_SUFFIX):
            names.add(path.name[: -len(LOCAL_SUFFIX)])
        elif path.name.endswith(SHARED_SUFFIX):
            names.add(path.name[: -len(SHARED_SUFFIX)])
    return sorted(n for n in names if n)


def _read(path: Path, project: Path, secret: bool) -> dict[str, Variable]:
    if not path.is_file():
        return {}
    source = str(path.relative_to(project))
    values = dotenv_values(path, interpolate=False)
    return {
        name: Variable(name, value, secret or is_secret_name(name), source)
        for name, value in values.items()
        if value is not None
    }


def load_environment(project: Path, name: str | None) -> Environment:
    """The variables of environment `name` (None: the project's `.env` alone)."""
    variables = _read(project / ".env", project, secret=False)
    if name is not None:
        folder = env_folder(project)
        variables |= _read(folder / f"{name}{SHARED_SUFFIX}", project, secret=False)
        variables |= _read(folder / f"{name}{LOCAL_SUFFIX}", project, secret=True)
    return Environment(name, variables)


def every_secret(project: Path) -> list[str]:
    """The secret values of every environment of the project (what the tape masks)."""
    values: set[str] = set()
    for name in [None, *environment_names(project)]:
        values.update(load_environment(project, name).secrets())
    return sorted(values, key=len, reverse=True)


def placeholders_as_json(text: str) -> str:
    """`text` with each `{{name}}` read as a value, for the editor's live JSON check: `0`
    is a valid JSON value where a value belongs and a valid string's content inside quotes."""
    return VARIABLE.sub("0", text)
