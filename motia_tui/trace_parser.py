"""`motia trace ...` on the command line's parser, apart from the verbs themselves
(`motia_tui.trace_cli`), which load the trace tools only when a trace verb runs: every other
command (`motia start` first) parses its arguments without them."""

from __future__ import annotations

import argparse
from typing import Any


def add_trace_commands(commands: Any) -> None:
    """`motia trace ...` on the top-level parser's subcommands."""
    summary = "List, re-run, diff, export and import traces, and turn one into a pytest test."
    trace = commands.add_parser("trace", help=summary, description=summary)
    verbs = trace.add_subparsers(dest="verb", required=True, help="what to do with traces")

    def verb(name: str, help_text: str) -> Any:
        parser = verbs.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--dir", help="the project folder (default: the current one)")
        parser.add_argument("--attach", metavar="URL", help="a running engine instead")
        parser.add_argument("--token", help="its introspection token")
        parser.set_defaults(func=lambda args: _run(args, name))
        return parser

    listing = verb("list", "traces, newest first")
    listing.add_argument("--step", help="only traces where this step ran")
    listing.add_argument("--status", choices=("ok", "error", "running"), help="only these")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    listing.add_argument("--json", action="store_true", help="JSON instead of text")
    show = verb("show", "one trace and its spans")
    show.add_argument("id", help="the trace id (or its first characters)")
    show.add_argument("--json", action="store_true", help="JSON instead of text")
    rerun = verb("rerun", "send a trace's trigger again, or one span's edited input")
    rerun.add_argument("id", help="the trace id (or its first characters)")
    rerun.add_argument("--from", dest="span", metavar="SPAN", help="re-run from this span")
    rerun.add_argument("--input", metavar="FILE", help="the span's input, as JSON (- for stdin)")
    rerun.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                       help="a header to send (the credentials a request was sent with)")
    diff = verb("diff", "two traces side by side")
    diff.add_argument("a", help="the first trace id")
    diff.add_argument("b", help="the second trace id")
    diff.add_argument("--json", action="store_true", help="JSON instead of text")
    export = verb("export", "a trace as JSON on stdout (secrets masked)")
    export.add_argument("id", help="the trace id (or its first characters)")
    imported = verb("import", "put an exported trace into the store")
    imported.add_argument("file", help="a file written by motia trace export")
    test = verb("test", "write a pytest file that replays the trace")
    test.add_argument("id", help="the trace id (or its first characters)")
    test.add_argument("-o", "--output", metavar="FILE",
                      help="where to write it (default tests/test_NAME.py in the project)")


def _run(args: argparse.Namespace, verb: str) -> int:
    from motia_tui import trace_cli

    return trace_cli.main(args, verb)
