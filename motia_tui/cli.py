"""The `motia` command: create, dev, tui, replay, start, types, emit, queue purge and trace.

Settings come from flags, then `MOTIA_*` variables, then `motia.toml`, then defaults; a bad
one stops the start with a message naming it. The workbench is imported only when it is
used, so `motia dev --no-tui` and `motia start` never load Textual.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shlex
import shutil
import sys
import unicodedata
from collections.abc import Callable, Coroutine, Iterator
from importlib import metadata, resources
from pathlib import Path
from typing import Any, TypeVar

from engine.server import build_server
from engine.settings import Settings, SettingsError, load_settings
from engine.stores import StoreError

T = TypeVar("T")
TEMPLATES = {"py": "default", "ts": "ts", "js": "js", "multi": "multi"}
"""`motia create --lang`: the template folder for each language (multi: TS, Python and JS)."""
_TEMPLATE_SKIP = {".motia", "__pycache__", "node_modules"}


def _run(main: Coroutine[Any, Any, int]) -> int:
    """Run the headless server on uvloop when it is installed (it comes with uvicorn)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _project_dir(value: str | None) -> Path:
    path = Path(value or ".").resolve()
    if not path.is_dir():
        raise SystemExit(f"motia: no such project folder: {path}")
    return path


def _settings(args: argparse.Namespace, project_dir: Path) -> Settings:
    overrides: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "redis_url": getattr(args, "redis", None),
    }
    if getattr(args, "introspect_token", None):
        overrides["introspect_token"] = args.introspect_token
    if getattr(args, "reset_store", False):
        overrides["reset_store"] = True
    try:
        return load_settings(project_dir, overrides)
    except SettingsError as exc:
        raise SystemExit(f"motia: {exc}") from None


def _or_exit(build: Callable[[], T]) -> T:
    """Build what serves the project, or stop with one line when its store cannot be used."""
    try:
        return build()
    except StoreError as exc:
        raise SystemExit(f"motia: {exc}") from None


def cmd_dev(args: argparse.Namespace) -> int:
    project_dir = _project_dir(args.dir)
    settings = _settings(args, project_dir)
    if not args.no_tui and not args.json and sys.stdout.isatty():
        return _run_workbench(args, project_dir, settings)
    if args.record:
        print("motia dev: --record records the workbench, and this run has none "
              "(--no-tui, --json or no terminal)", file=sys.stderr)
        return 2
    from motia_tui.headless import serve

    server = _or_exit(lambda: build_server(project_dir, settings, "dev"))
    return _run(serve(server, as_json=args.json))


def cmd_start(args: argparse.Namespace) -> int:
    project_dir = _project_dir(args.dir)
    settings = _settings(args, project_dir)
    from motia_tui.headless import serve

    server = _or_exit(lambda: build_server(project_dir, settings, "start"))
    return _run(serve(server, as_json=args.json))


@contextlib.contextmanager
def _start_up_uncollected() -> Iterator[None]:
    """The collector off while the workbench starts: importing Textual and loading the
    project make objects that live as long as the process, which the workbench freezes
    once it is ready (`motia_tui.run`), and a full collection among the imports walked them
    all (30 ms of CPU or more). On again however the workbench ends."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def cmd_tui(args: argparse.Namespace) -> int:
    if args.attach:
        with _start_up_uncollected():
            from motia_tui.remote_source import RemoteSource
            from motia_tui.run import run_tui

            return run_tui(RemoteSource(args.attach, args.token), color=args.color,
                           mouse=not args.no_mouse, slow_link=args.slow_link,
                           record=args.record, title=f"motia tui --attach {args.attach}")
    project_dir = _project_dir(args.dir)
    return _run_workbench(args, project_dir, _settings(args, project_dir))


def _run_workbench(args: argparse.Namespace, project_dir: Path, settings: Settings) -> int:
    with _start_up_uncollected():
        from motia_tui.run import run_tui
        from motia_tui.source import LocalSource

        source = _or_exit(
            lambda: LocalSource(project_dir, settings, settings.host, settings.port)
        )
        return run_tui(source, color=getattr(args, "color", "auto"),
                       mouse=not getattr(args, "no_mouse", False),
                       slow_link=getattr(args, "slow_link", False),
                       record=getattr(args, "record", None),
                       title=f"motia: {project_dir.name}", keys_from=project_dir)


def cmd_demo(args: argparse.Namespace) -> int:
    from motia_tui.demo import DemoError, run_demo
    from motia_tui.demo_tape import TapeSyntaxError, parse_tape

    tape_path = Path(args.tape)
    try:
        text = tape_path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"motia demo: cannot read {tape_path}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        tape = parse_tape(text)
    except TapeSyntaxError as exc:
        for error in exc.errors:
            print(f"{tape_path}:{error.line}: {error.message}", file=sys.stderr)
        return 2
    project_dir = _project_dir(args.dir)
    try:
        result = run_demo(tape, tape_path, project_dir, port=args.port, gif=not args.no_gif)
    except DemoError as exc:
        where = f"{tape_path}:{exc.line}" if exc.line else str(tape_path)
        print(f"motia demo: {where}: {exc.reason}", file=sys.stderr)
        return 1
    for path in (result.cast, *result.screenshots, *([result.gif] if result.gif else [])):
        print(f"wrote {os.path.relpath(path)}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    with _start_up_uncollected():
        from motia_tui.replay import ReplaySource
        from motia_tui.run import run_tui
        from motia_tui.tape_file import TapeError, find_tape

        target = Path(args.tape) if args.tape else _project_dir(args.dir)
        try:
            find_tape(target)
        except (TapeError, OSError) as exc:
            raise SystemExit(f"motia replay: {exc}") from None
        return run_tui(ReplaySource(target), color=args.color, mouse=not args.no_mouse,
                       slow_link=args.slow_link, record=args.record,
                       title=f"motia replay: {target.name}")


def _refusal(response: Any) -> str:
    """The server's own words for a refusal (the JSON error shape), else its text."""
    try:
        message = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return str(response.text).strip()
    return str(message)


def cmd_emit(args: argparse.Namespace) -> int:
    import httpx

    try:
        data = json.loads(args.data)
    except ValueError as exc:
        print(f"motia emit: --data is not JSON: {exc}", file=sys.stderr)
        return 2
    headers = {"authorization": f"Bearer {args.token}"} if args.token else {}
    url = args.url.rstrip("/") + "/__motia/emit"
    try:
        response = httpx.post(url, json={"topic": args.topic, "data": data}, headers=headers,
                              timeout=10)
    except httpx.HTTPError as exc:
        print(f"motia emit: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 202:
        print(f"motia emit: {response.status_code} {_refusal(response)}", file=sys.stderr)
        return 1
    print(f"emitted {args.topic}: trace {response.json()['traceId']}")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    """Describe the project's api steps without starting it (no store, no server)."""
    from engine.env_file import load_env_file
    from engine.openapi import openapi_document
    from engine.project_steps import load_project_steps

    project_dir = _project_dir(args.dir)
    settings = _settings(args, project_dir)
    for problem in load_env_file(project_dir / ".env"):
        print(f"motia openapi: {problem}", file=sys.stderr)
    steps, errors = asyncio.run(load_project_steps(project_dir))
    for error in errors:
        print(f"motia openapi: {error.file}:{error.line}: {error.message}", file=sys.stderr)
    if errors:
        print("motia openapi: nothing written: fix the steps above first", file=sys.stderr)
        return 1
    document = openapi_document(
        steps, title=project_dir.name, server_url=f"http://{settings.host}:{settings.port}"
    )
    if args.yaml:
        import yaml

        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return 0
    target = Path(args.output)
    try:
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(target)
    except OSError as exc:
        print(f"motia openapi: cannot write {target}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {target}", file=sys.stderr)
    return 0


def _remove_partial(target: Path, existed: bool) -> None:
    """A create that failed half-way leaves no half project: the folder it made goes, and a
    folder that was there (empty) is emptied again."""
    if not existed:
        shutil.rmtree(target, ignore_errors=True)
    elif target.is_dir():
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def cmd_queue_purge(args: argparse.Namespace) -> int:
    from motia_tui.queue_command import cmd_queue_purge as purge

    project_dir = _project_dir(args.dir)
    return purge(args, project_dir, _settings(args, project_dir))


def cmd_create(args: argparse.Namespace) -> int:
    problem = _bad_project_name(args.name)
    if problem is not None:
        print(f"motia create: {problem}", file=sys.stderr)
        return 2
    target = Path(args.name).resolve()
    if target.exists() and not target.is_dir():
        print(f"motia create: {shlex.quote(str(target))} is a file", file=sys.stderr)
        return 1
    if target.exists() and any(target.iterdir()):
        print(f"motia create: {shlex.quote(str(target))} exists and is not empty", file=sys.stderr)
        return 1
    template = resources.files("motia_tui") / "templates" / TEMPLATES[args.lang]
    existed = target.exists()
    try:
        with resources.as_file(template) as source:
            shutil.copytree(source, target, dirs_exist_ok=True,
                            ignore=lambda _d, names: [n for n in names if n in _TEMPLATE_SKIP])
    except OSError as exc:
        _remove_partial(target, existed)
        reason = exc.strerror or str(exc)
        print(f"motia create: cannot write {shlex.quote(str(target))}: {reason}", file=sys.stderr)
        return 1
    print(f"created {shlex.quote(str(target))}")
    install = " && npm install" if (target / "package.json").is_file() else ""
    print(f"next: cd {shlex.quote(os.path.relpath(target))}{install} && motia dev")
    return 0


def cmd_types(args: argparse.Namespace) -> int:
    """Load the project as `motia dev` would, in memory, and write its types.d.ts."""
    from dataclasses import replace

    from engine.runtime import Engine

    project_dir = _project_dir(args.dir)
    try:
        settings = replace(load_settings(project_dir), store=":memory:", tape=False)
    except SettingsError as exc:
        raise SystemExit(f"motia: {exc}") from None

    async def write() -> Path:
        engine = Engine(project_dir, settings)
        await engine.start()
        try:
            for error in engine.errors.values():
                print(f"motia types: skipped {error}", file=sys.stderr)
            return engine.write_types()
        finally:
            await engine.stop()

    target = asyncio.run(write())
    print(f"wrote {shlex.quote(os.path.relpath(target))}")
    return 0


def _bad_project_name(name: str) -> str | None:
    """Why `name` cannot be a project folder, or None. Spaces and sub-folders are fine (the
    printed command quotes them); control characters would make a path nobody can type."""
    if not name.strip():
        return "the project name is empty"
    if any(unicodedata.category(char).startswith("C") for char in name):
        return f"the project name {name!r} holds control characters"
    return None


def _serve_flags(parser: argparse.ArgumentParser, *, dev: bool) -> None:
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 3000)")
    parser.add_argument("--dir", help="the project folder (default: the current one)")
    _reset_flag(parser)
    if dev:
        parser.add_argument("--no-tui", action="store_true",
                            help="print logs to the console instead of opening the workbench")
    parser.add_argument("--json", action="store_true", help="print every record as a JSON line")
    parser.add_argument("--introspect-token", metavar="T",
                        help="serve /__motia/ to requests bearing this token")
    _redis_flag(parser)


def _redis_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis", metavar="URL",
                        help="share state, queue and history with other workers in this Redis "
                             "(redis://[:password@]host:port/db or rediss://)")


def _reset_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reset-store", action="store_true",
                        help="when the store file is damaged, keep it as "
                             "store.sqlite3.corrupt-<time> and start with an empty one")


def _tui_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--color", choices=("auto", "truecolor", "256", "16"), default="auto",
                        help="colour depth of the terminal")
    parser.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    parser.add_argument("--slow-link", action="store_true",
                        help="fewer frames and no animation, for slow SSH links")
    parser.add_argument("--record", metavar="FILE.cast",
                        help="record the session as an asciicast v2 file")


class _Version(argparse.Action):
    """`--version`, read from the installed package only when asked: reading it costs every
    other command (`motia start` first) a scan of the installed distributions."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        print(f"motia {metadata.version('motia-tui')}")  # on stdout, as argparse's own
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motia", description="Run Motia-format step projects.")
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        """The summary heads `motia NAME --help` too, not only the list of commands."""
        return commands.add_parser(name, help=summary, description=summary)

    create = command("create", "write a new project from the template")
    create.add_argument("name", help="folder to create")
    create.add_argument("--lang", choices=sorted(TEMPLATES), default="py",
                        help="the steps' language (multi: TypeScript, Python and JavaScript)")
    create.set_defaults(func=cmd_create)

    dev = command("dev", "the dev server with hot reload (and the workbench)")
    _serve_flags(dev, dev=True)
    _tui_flags(dev)
    dev.set_defaults(func=cmd_dev)

    tui = command("tui", "the terminal workbench")
    tui.add_argument("--host", help="address to bind (default 127.0.0.1)")
    tui.add_argument("--port", type=int, help="port to listen on (default 3000)")
    tui.add_argument("--dir", help="the project folder (default: the current one)")
    _reset_flag(tui)
    tui.add_argument("--attach", metavar="URL", help="open the workbench on a running engine")
    tui.add_argument("--token", help="introspection token of the engine to attach to")
    _redis_flag(tui)
    _tui_flags(tui)
    tui.set_defaults(func=cmd_tui)

    demo = command("demo", "run a scripted demo: a cast, screenshots, a GIF")
    demo.add_argument("tape", metavar="SCRIPT.tape", help="the demo script")
    demo.add_argument("--dir", help="the project folder (default: the current one)")
    demo.add_argument("--port", type=int, help="the demo server's port (default: a free one)")
    demo.add_argument("--no-gif", action="store_true",
                      help="do not render the GIF even with the demo extra installed")
    demo.set_defaults(func=cmd_demo)

    replay = command("replay", "the workbench, read-only, on an engine tape")
    replay.add_argument("tape", nargs="?",
                        help="a tape file (default: the newest run of the project)")
    replay.add_argument("--dir", help="the project folder (default: the current one)")
    _tui_flags(replay)
    replay.set_defaults(func=cmd_replay)

    start = command("start", "production: no reload, no workbench")
    _serve_flags(start, dev=False)
    start.set_defaults(func=cmd_start)

    openapi = command("openapi", "the api steps as an OpenAPI 3.1 document")
    openapi.add_argument("-o", "--output", metavar="FILE",
                         help="write to FILE instead of standard output")
    openapi.add_argument("--yaml", action="store_true", help="YAML instead of JSON")
    openapi.add_argument("--dir", help="the project folder (default: the current one)")
    openapi.add_argument("--host", help="host in the document's server URL (default 127.0.0.1)")
    openapi.add_argument("--port", type=int, help="port in the server URL (default 3000)")
    openapi.set_defaults(func=cmd_openapi)

    types = command("types", "write types.d.ts (Handlers by step name)")
    types.add_argument("--dir", help="the project folder (default: the current one)")
    types.set_defaults(func=cmd_types)

    queue = command("queue", "the queues of the topics")
    queue_commands = queue.add_subparsers(
        dest="queue_command", required=True, metavar="purge",
        help="purge: throw away every event still queued for a topic")
    purge = queue_commands.add_parser(
        "purge", help="throw away every event still queued for a topic",
        description="throw away every event still queued for a topic")
    purge.add_argument("topic", metavar="TOPIC", help="the topic whose queue to empty")
    purge.add_argument("--attach", metavar="URL",
                       help="purge on this running server (default: the project's own store)")
    purge.add_argument("--token", help="introspection token of the server to attach to")
    purge.add_argument("--dir", help="the project folder (default: the current one)")
    _redis_flag(purge)
    purge.set_defaults(func=cmd_queue_purge, host=None, port=None)

    emit = command("emit", "send an event to a running server")
    emit.add_argument("--topic", required=True, help="the topic to emit on")
    emit.add_argument("--data", default="{}", help="the event data, as JSON")
    emit.add_argument("--url", default="http://127.0.0.1:3000",
                      help="the server (default http://127.0.0.1:3000)")
    emit.add_argument("--token", help="introspection token, when the server needs one")
    emit.set_defaults(func=cmd_emit)

    from motia_tui.trace_parser import add_trace_commands

    add_trace_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
