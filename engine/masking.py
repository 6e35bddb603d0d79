"""What never leaves the engine in clear: credentials in headers and secret environment values.

One list of header names serves both places that show a request: the span the workbench shows
leaves these headers out (`visible_headers`), and the engine tape masks them wherever a step put
them, e.g. a logged `req.headers` (`Masker`). The tape also masks the value of every environment
variable whose name marks it secret (`STRIPE_SECRET_KEY`, `GITHUB_TOKEN`, `DB_PASSWORD`), because
a tape is a file people attach to bug reports.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

import orjson

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
MASK = "***"
SECRET_NAME = re.compile(
    r"SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|PRIVATE_KEY|ACCESS_KEY|CREDENTIAL|AUTH",
    re.IGNORECASE,
)
MIN_SECRET_LENGTH = 6
"""Shorter values are left alone: masking every `1` or `dev` in a tape would ruin it and hide
nothing a guess would not find."""

_HEADER_FIELD = re.compile(
    rb'"(' + b"|".join(re.escape(name.encode()) for name in sorted(SECRET_HEADERS)) + rb')"'
    rb'\s*:\s*"(?:[^"\\]|\\.)*"',
    re.IGNORECASE,
)


_NAME_ENDS = (b'authorization"', b'cookie"', b'x-api-key"')
"""Every secret header name, quoted, ends with one of these: three scans of a batch instead of
five find every field the expression would (it then decides)."""


def visible_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A request's headers as a span shows them: without credentials."""
    return {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the environment variables whose names mark them secret, longest first."""
    env = os.environ if environ is None else environ
    values = {
        value
        for name, value in env.items()
        if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH
    }
    return sorted(values, key=len, reverse=True)


class Masker:
    """Masks secrets in serialised JSON, the form the tape writes (fast: a regular expression
    and a few `bytes.replace` over a whole batch, on the writer's thread)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[bytes] = []
        self.add(secrets)
        self._field = rb'"\1":"' + MASK.encode() + rb'"'

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these values too from now on (a request environment read after the start);
        the list is replaced whole, so the writer thread sees the old or the new one."""
        known = set(self._secrets)
        known.update(orjson.dumps(s)[1:-1] for s in secrets if len(s) >= MIN_SECRET_LENGTH)
        self._secrets = sorted(known, key=len, reverse=True)

    def json(self, text: bytes) -> bytes:
        lowered = text.lower()
        if any(end in lowered for end in _NAME_ENDS):
            masked = _HEADER_FIELD.sub(self._field, text)
        else:
            masked = text  # the usual batch: searching it costs a tenth of the expression
        for secret in self._secrets:
            if secret in masked:
                masked = masked.replace(secret, MASK.encode())
        return masked
