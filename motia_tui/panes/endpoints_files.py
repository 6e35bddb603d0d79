"""What the Endpoints pane keeps in files and moves in and out as text: saved requests (listed
under their routes), environments, and curl commands (copied out, pasted or imported in).

A part of `EndpointsPane`, kept apart so each file stays about one thing; it works on the
pane's route list, its environment picker and its builder (through `capture`/`load_draft`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Select, Static, TabbedContent
from textual.widgets.option_list import Option

from motia_tui.curl import CurlError, parse_curl, to_curl
from motia_tui.endpoint_model import Draft, Route, draft_for_request, match_route, outgoing
from motia_tui.request_env import Environment, environment_names, load_environment
from motia_tui.saved_requests import (
    SavedRequest,
    SavedRequestError,
    delete,
    load_all,
    name_problem,
    path_of,
    save,
)
from motia_tui.widgets.confirm import ConfirmScreen
from motia_tui.widgets.request_lists import RouteList
from motia_tui.widgets.text_prompt import TextPrompt

if TYPE_CHECKING:
    from motia_tui.source import EngineSource

EMIT_OPTION = "emit"
NO_ENVIRONMENT = ""
DEFAULT_BASE = "http://127.0.0.1:3000"
"""Where a copied curl command points when the source has no HTTP address (a replay)."""


@dataclass(frozen=True)
class Entry:
    """One line of the route list: a route, or a request saved for one (`route` None when
    no route of the project takes it any more)."""

    route: Route | None
    saved: SavedRequest | None = None


class RequestFiles(Horizontal):
    """Saved requests, environments and curl: the part of the Endpoints pane they are."""

    routes: list[Route]
    project: Path
    source: EngineSource
    _route: Route | None

    if TYPE_CHECKING:

        def capture(self) -> Draft: ...

        async def load_draft(self, draft: Draft, route: Route | None) -> None: ...

        def _focus_builder(self) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._entries: list[Entry | None] = []
        self._env_name: str | None = None
        self._environment: Environment | None = None

    # -- the route list, with saved requests under their routes -------------------------

    def list_routes(self) -> None:
        """(Re)build the route list from the routes and the files in `motia-requests/`,
        keeping the cursor where it was."""
        saved, problems = load_all(self.project)
        for problem in problems:
            self.notify(problem, title="Saved request not read", severity="warning")
        by_step: dict[str | None, list[SavedRequest]] = {}
        for item in saved:
            route = self._route_of(item)
            by_step.setdefault(route.step if route else None, []).append(item)
        entries: list[Entry | None] = []
        options: list[Option] = []
        for index, route in enumerate(self.routes):
            entries.append(Entry(route))
            options.append(Option(_route_prompt(route), id=f"route-{index}"))
            for item in by_step.get(route.step, []):
                entries.append(Entry(route, item))
                options.append(Option(_saved_prompt(item.name), id=f"saved-{item.name}"))
        for item in by_step.get(None, []):
            entries.append(Entry(None, item))
            options.append(Option(_saved_prompt(f"{item.name} (no route)"),
                                  id=f"saved-{item.name}"))
        entries.append(None)
        options.append(
            Option(Content.assemble(("⚡", "$text-accent"), " emit an event"), id=EMIT_OPTION)
        )
        routes = self.query_one("#endpoints-routes", RouteList)
        was = routes.highlighted_option.id if routes.highlighted_option else None
        self._entries = entries
        routes.saved_ids = {str(o.id) for o in options if str(o.id).startswith("saved-")}
        routes.set_options(options)
        ids = [o.id for o in options]
        current = f"route-{self.routes.index(self._route)}" if self._route in self.routes else None
        for wanted in (was, current):
            if wanted in ids:
                routes.highlighted = ids.index(wanted)
                return
        if self.routes:
            routes.highlighted = 0

    def _route_of(self, saved: SavedRequest) -> Route | None:
        by_name = next((r for r in self.routes if r.step == saved.step), None)
        if by_name is not None:
            return by_name
        if ":" in saved.draft.path or "{{" in saved.draft.path:
            return None
        matched = match_route(self.routes, saved.draft.method, saved.draft.path)
        return matched[0] if matched else None

    def entry_at(self, index: int | None) -> Entry | None:
        if index is None or not 0 <= index < len(self._entries):
            return None
        return self._entries[index]

    def option_of_route(self, step: str) -> int | None:
        return next(
            (i for i, e in enumerate(self._entries)
             if e is not None and e.saved is None and e.route is not None
             and e.route.step == step),
            None,
        )

    async def route_list_asked(self, what: str, index: int | None) -> None:
        entry = self.entry_at(index)
        if what == "save":
            self._ask_name(entry)
        elif what == "delete" and entry is not None and entry.saved is not None:
            self._ask_delete(entry.saved.name)
        elif what == "curl":
            self.copy_curl(self.curl_of(self.capture(), self.environment()))
        elif what == "import":
            self.app.push_screen(
                TextPrompt("Paste a curl command:", multiline=True, check=_curl_problem),
                self._imported,
            )
        elif what == "environment":
            self._next_environment()

    def _ask_name(self, entry: Entry | None) -> None:
        if self._route is None and (entry is None or entry.saved is None):
            self.notify("nothing to save: pick a route first", severity="warning")
            return
        replacing = entry.saved.name if entry is not None and entry.saved else None

        def problem(name: str) -> str | None:
            wrong = name_problem(name)
            if wrong is None and name != replacing and path_of(self.project, name).exists():
                return f"{name!r} is saved already: pick another name (or delete it with d)"
            return wrong

        self.app.push_screen(
            TextPrompt("Save the request as:", value=replacing or "", check=problem,
                       placeholder="a name, e.g. greet ada"),
            self._save_as,
        )

    def _save_as(self, name: str | None) -> None:
        if not name:
            return
        step = self._route.step if self._route else None
        try:
            path = save(self.project, SavedRequest(name, step, self.capture()))
        except (OSError, SavedRequestError) as exc:
            self.notify(f"not saved: {exc}", title="Not saved", severity="error", timeout=6)
            return
        self.list_routes()
        routes = self.query_one("#endpoints-routes", RouteList)
        ids = [routes.get_option_at_index(i).id for i in range(routes.option_count)]
        if f"saved-{name}" in ids:
            routes.highlighted = ids.index(f"saved-{name}")
        self.notify(f"saved as {path.relative_to(self.project)}", timeout=4)

    def _ask_delete(self, name: str) -> None:
        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                delete(self.project, name)
            except OSError as exc:
                self.notify(f"not deleted: {exc}", severity="error")
                return
            self.list_routes()
            self.notify(f"deleted {name}", timeout=3)

        self.app.push_screen(ConfirmScreen(f"Delete the saved request {name!r}?", yes="Delete"),
                             answered)

    # -- curl -------------------------------------------------------------------------

    def curl_of(self, draft: Draft, environment: Environment) -> str:
        """The draft as a curl command: shared variables filled, secrets left as `{{name}}`."""
        request = outgoing(draft, environment.exported)
        label = self.source.label
        base = label.rstrip("/") if label.startswith("http") else DEFAULT_BASE
        return to_curl(request.method, base + request.url, request.headers, request.body)

    def copy_curl(self, command: str) -> None:
        """To the clipboard over OSC 52 (so also over SSH), and shown."""
        self.app.copy_to_clipboard(command)
        self.notify(command, title="Copied as curl", timeout=8, markup=False)

    def _imported(self, text: str | None) -> None:
        if text:
            self.run_worker(self.import_curl(text), group="endpoints-import")

    async def import_curl(self, text: str) -> None:
        """Fill the builder from a curl command, on the route it calls when there is one."""
        try:
            request = parse_curl(text)
        except CurlError as exc:
            self.notify(str(exc), title="Not a curl command this builder takes",
                        severity="error", timeout=6)
            return
        draft, route = draft_for_request(request.method, request.path, request.query,
                                         request.headers, request.body, self.routes)
        await self.load_draft(draft, route)
        if route is None:
            self.notify(f"no route takes {request.method} {request.path}: the builder holds "
                        "it as pasted", severity="warning", timeout=5)
        self.query_one(TabbedContent).active = "endpoints-request"
        self.call_after_refresh(self._focus_builder)

    # -- environments -----------------------------------------------------------------

    def refresh_environments(self) -> None:
        names = environment_names(self.project)
        self._environment = None
        select: Select[str] = self.query_one("#endpoints-env", Select)
        select.set_options([("none", NO_ENVIRONMENT), *((n, n) for n in names)])
        select.value = self._env_name if self._env_name in names else NO_ENVIRONMENT

    def environment(self, *, fresh: bool = False) -> Environment:
        """The active environment; `fresh` reads its files again (a send does, so an edit
        of a file counts at once)."""
        if fresh or self._environment is None or self._environment.name != self._env_name:
            self._environment = load_environment(self.project, self._env_name)
        return self._environment

    def _next_environment(self) -> None:
        names = [None, *environment_names(self.project)]
        if len(names) == 1:
            self.notify("no environments: add motia-requests/env/NAME.env", timeout=5)
            return
        index = names.index(self._env_name) if self._env_name in names else 0
        chosen = names[(index + 1) % len(names)]
        self.refresh_environments()
        self.query_one("#endpoints-env", Select).value = chosen or NO_ENVIRONMENT

    @on(Select.Changed, "#endpoints-env")
    def _environment_chosen(self, message: Select.Changed) -> None:
        message.stop()
        value = message.value if isinstance(message.value, str) else NO_ENVIRONMENT
        self._env_name = value or None
        environment = self.environment(fresh=True)
        secrets = environment.secrets()
        tape = getattr(self.source, "tape", None)
        if tape is not None:
            tape.masker.add(secrets)
        recorder = getattr(self.app, "recorder", None)
        if recorder is not None:
            recorder.mask(secrets)
        self.show_environment(None, environment)

    def show_environment(self, draft: Draft | None, environment: Environment | None = None
                         ) -> None:
        """The line over the builder: the active environment and what the draft takes
        from it (secrets masked)."""
        environment = environment or self.environment()
        draft = draft or self.capture()
        line = self.query_one("#endpoints-env-line", Static)
        if environment.name is None and not environment.names_in("".join(draft.texts())):
            line.update("")
            line.display = False
            return
        used = environment.used(draft.texts())
        missing = environment.missing(draft.texts())
        parts = [f"env {environment.name or 'none'}"]
        if used:
            parts.append(", ".join(f"{v.name}={v.shown}" for v in used))
        if missing:
            parts.append("missing " + ", ".join(f"{{{{{n}}}}}" for n in missing))
        if not used and not missing:
            parts.append(f"{len(environment.variables)} variables, none used here")
        line.update(" · ".join(parts))
        line.display = True


def _curl_problem(text: str) -> str | None:
    try:
        parse_curl(text)
    except CurlError as exc:
        return str(exc)
    return None


def _route_prompt(route: Route) -> Content:
    return Content.assemble((f"{route.method:<7}", "bold"), route.path)


def _saved_prompt(name: str) -> Content:
    return Content.assemble(("  ◦ ", "$text-accent"), name)

