"""Which web pages may talk to the server: the `Origin` rules of `/__motia/` and the stream socket.

A browser names the page behind every cross-site call in `Origin`; a page served on
`http://localhost` (port 80) is another site than this server on `localhost:3000`, so an
origin matches only with its scheme, host and port. `/__motia/` answers only its own origin.
The stream socket answers the origins of the setting `allowed_origins` (comma-separated, `*`
for any); without it, `motia dev` allows every loopback origin on any port (a frontend dev
server next to the engine) and `motia start` only its own. A client that sends no `Origin`
is not a browser page and is left to the token and `motia_auth.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEMES = {"http": "http", "ws": "http", "https": "https", "wss": "https"}

Origin = tuple[str, str, int]


def parse_origin(text: str) -> Origin | None:
    """(scheme, host, port) with the scheme's default port filled in; None for `null` or junk."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


def _host_name(host_header: str) -> str:
    """The name in a `Host` header, without its port or IPv6 brackets."""
    parts = urlsplit(f"//{host_header}")
    return (parts.hostname or "").lower()


def is_own_origin(origin: Origin, scope: Mapping[str, Any], bound_host: str) -> bool:
    """Is the page the server itself: same scheme, port and host (any loopback name on
    loopback; the name the client used where the server listens on every address)?"""
    scheme, host, port = origin
    server = scope.get("server")
    if server is None or server[1] is None:
        return False
    if scheme != _SCHEMES.get(scope.get("scheme", "http"), "http") or port != server[1]:
        return False
    if bound_host in LOOPBACK_NAMES:
        return host in LOOPBACK_NAMES
    if bound_host in WILDCARD_HOSTS:
        header = dict(scope.get("headers") or ()).get(b"host", b"").decode("latin-1")
        return host == _host_name(header)
    return host == bound_host.lower()


class OriginPolicy:
    """The origins the stream socket accepts."""

    def __init__(self, allowed: str | None, mode: str, bound_host: str) -> None:
        self._bound_host = bound_host
        self._any = False
        self._listed: set[Origin] = set()
        self._loopback = allowed is None and mode == "dev"
        for entry in (allowed or "").split(","):
            parsed = parse_origin(entry)
            if entry.strip() == "*":
                self._any = True
            elif parsed is not None:
                self._listed.add(parsed)

    def allows(self, origin_header: str | None, scope: Mapping[str, Any]) -> bool:
        if origin_header is None or self._any:
            return True
        origin = parse_origin(origin_header)
        if origin is None:
            return False
        if origin in self._listed or is_own_origin(origin, scope, self._bound_host):
            return True
        return self._loopback and origin[1] in LOOPBACK_NAMES
