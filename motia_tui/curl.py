"""curl commands in and out of the request builder: copy a request as curl, paste one back.

Pure: `to_curl` writes what `parse_curl` reads, so a request survives a round trip. Parsing
splits the command the way a POSIX shell would (`shlex`, line continuations included) and
understands the options people paste from browsers' "copy as curl" and API docs: the method
(`-X`, `-I`, `-G`), headers (`-H`, `-A`, `-b`, `-u`), the body (`-d` and its relatives,
`--json`) and the URL, with the flags that change nothing about the request (`-s`, `-L`,
`--compressed`...) accepted and left out. Anything else is an error that names it: a pasted
command is never half-understood in silence.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

DATA_OPTIONS = frozenset(
    {"-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--data-urlencode"}
)
HEADER_OPTIONS = {"-H": "", "--header": "", "-A": "user-agent", "--user-agent": "user-agent",
                  "-b": "cookie", "--cookie": "cookie", "-e": "referer", "--referer": "referer"}
"""Options whose value is a header: `-H` a whole `Name: value` line, the others its value."""
IGNORED_FLAGS = frozenset(
    {"-s", "--silent", "-S", "--show-error", "-L", "--location", "-k", "--insecure", "-v",
     "--verbose", "-i", "--include", "--compressed", "-f", "--fail", "-g", "--globoff", "-N",
     "--no-buffer", "--http1.1", "--http2", "-#", "--progress-bar", "--fail-with-body"}
)
IGNORED_WITH_VALUE = frozenset(
    {"-o", "--output", "-m", "--max-time", "--connect-timeout", "-w", "--write-out",
     "--retry", "-x", "--proxy"}
)
SHORT_WITH_VALUE = frozenset("XHdAbeuomwx")
"""Short options that take a value, which may be glued on (`-XPOST`)."""


class CurlError(ValueError):
    """A command that is not a curl command this builder can take, and why."""


@dataclass(frozen=True)
class CurlRequest:
    """What a curl command sends."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    @property
    def path(self) -> str:
        """The URL's path (`/` when it has none)."""
        return urlsplit(self.url).path or "/"

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.url).query, keep_blank_values=True)


def to_curl(method: str, url: str, headers: dict[str, str], body: str | None) -> str:
    """A command that sends exactly this request, quoted for any POSIX shell."""
    words = ["curl"]
    if method == "HEAD" and body is None:
        words.append("-I")
    elif method != "GET" or body is not None:
        words += ["-X", method]
    words.append(shlex.quote(url))
    for name, value in headers.items():
        words += ["-H", shlex.quote(f"{name}: {value}")]
    if body is not None:
        words += ["--data-raw", shlex.quote(body)]
    return " ".join(words)


def is_curl(text: str) -> bool:
    """Whether pasted text reads as a curl command (what turns a paste into an import)."""
    return text.lstrip().startswith("curl ")


def _words(text: str) -> list[str]:
    joined = text.replace("\\\r\n", " ").replace("\\\n", " ").strip()
    try:
        words = shlex.split(joined)
    except ValueError as exc:
        raise CurlError(f"cannot split the command: {exc}") from None
    if not words or words[0] != "curl":
        raise CurlError("a curl command starts with `curl`")
    return words[1:]


def _split_option(word: str) -> tuple[str, str | None]:
    """`--request=POST` and `-XPOST` into the option and its glued value."""
    if word.startswith("--"):
        name, equals, value = word.partition("=")
        return name, value if equals else None
    if len(word) > 2 and word[1] in SHORT_WITH_VALUE:
        return word[:2], word[2:]
    return word, None


def parse_curl(text: str) -> CurlRequest:
    """The request a curl command sends; CurlError, naming the problem, otherwise."""
    words = _words(text)
    method: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    data: list[str] = []
    as_query = False
    index = 0

    def value_of(option: str, glued: str | None) -> str:
        nonlocal index
        if glued is not None:
            return glued
        index += 1
        if index >= len(words):
            raise CurlError(f"{option} needs a value")
        return words[index]

    while index < len(words):
        word = words[index]
        if not word.startswith("-") or word == "-":
            if url is not None:
                raise CurlError(f"two URLs: {url!r} and {word!r}")
            url = word
            index += 1
            continue
        option, glued = _split_option(word)
        if option in ("-X", "--request"):
            method = value_of(option, glued).upper()
        elif option in HEADER_OPTIONS:
            value = value_of(option, glued)
            named = HEADER_OPTIONS[option]
            if named:
                headers[named] = value
            else:
                name, colon, rest = value.partition(":")
                if not colon or not name.strip():
                    raise CurlError(f"{option} {value!r} is not a `Name: value` header")
                headers[name.strip()] = rest.strip()
        elif option in ("-u", "--user"):
            token = base64.b64encode(value_of(option, glued).encode()).decode()
            headers["authorization"] = f"Basic {token}"
        elif option in DATA_OPTIONS:
            value = value_of(option, glued)
            if value.startswith("@") and option != "--data-raw":
                raise CurlError(f"{option} {value}: reading the body from a file is not supported")
            data.append(value)
        elif option == "--json":
            data.append(value_of(option, glued))
            headers.setdefault("content-type", "application/json")
            headers.setdefault("accept", "application/json")
        elif option == "--url":
            url = value_of(option, glued)
        elif option in ("-G", "--get"):
            as_query = True
        elif option in ("-I", "--head"):
            method = "HEAD"
        elif option in IGNORED_WITH_VALUE:
            value_of(option, glued)
        elif option in IGNORED_FLAGS or _all_ignored_flags(word):
            pass
        else:
            raise CurlError(f"unknown curl option {word}")
        index += 1
    if url is None:
        raise CurlError("no URL in the command")
    body = "&".join(data) if data else None
    if as_query and body is not None:
        url = f"{url}{'&' if '?' in url else '?'}{body}"
        body = None
    return CurlRequest(method or ("POST" if body is not None else "GET"), url, headers, body)


def _all_ignored_flags(word: str) -> bool:
    """`-sSL`: several short flags in one word, each one curl may be given and we may drop."""
    return (
        len(word) > 2 and not word.startswith("--")
        and all(f"-{letter}" in IGNORED_FLAGS for letter in word[1:])
    )
