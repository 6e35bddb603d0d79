"""Which pages' scripts may read the answers of api routes: the setting `cors_origins`.

`Access-Control-Allow-Origin` holds one origin or `*`, never a list: a browser refuses an
answer whose header does not equal its page's origin. So for a list of origins the answer
names the request's `Origin` when it is listed and sends no CORS headers otherwise, with
`Vary: Origin` either way so a cache never serves one origin's answer to another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.origins import Origin, parse_origin

Headers = list[tuple[bytes, bytes]]

ALLOW_ORIGIN = b"access-control-allow-origin"
_METHODS = (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS")
_HEADERS = (b"access-control-allow-headers", b"*")
_VARY = (b"vary", b"Origin")


class CorsPolicy:
    """The CORS headers of one api answer, from the request's `Origin`."""

    __slots__ = ("_fixed", "_listed", "_unlisted", "fixed_lines")

    def __init__(self, origins: str | None) -> None:
        entries = [entry.strip() for entry in (origins or "").split(",") if entry.strip()]
        self._listed: set[Origin] = set()
        self._unlisted: Headers = [_VARY]
        self._fixed: Headers | None = None
        if not entries:
            self._fixed = []
        elif "*" in entries:
            self._fixed = [(ALLOW_ORIGIN, b"*"), _METHODS, _HEADERS]
        else:
            self._listed = {parsed for parsed in map(parse_origin, entries) if parsed is not None}
        self.fixed_lines: bytes | None = None
        """The headers of every answer as the lines of a head, when they never change."""
        if self._fixed is not None:
            self.fixed_lines = b"".join(b"%b: %b\r\n" % pair for pair in self._fixed)

    def headers(self, scope: Mapping[str, Any]) -> Headers:
        """The same list for `*` or none (nothing to compute on the hot path); for a list,
        the request's origin when it is listed."""
        if self._fixed is not None:
            return self._fixed
        for name, value in scope["headers"]:
            if name == b"origin":
                if parse_origin(value.decode("latin-1")) in self._listed:
                    return [(ALLOW_ORIGIN, value), _VARY, _METHODS, _HEADERS]
                break
        return self._unlisted


def grants(headers: Headers) -> bool:
    """Do these headers let the page read the answer (a preflight then gets 204)?"""
    return bool(headers) and headers[0][0] == ALLOW_ORIGIN
