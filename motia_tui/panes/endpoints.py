"""The Endpoints pane: call the project's api steps and emit its events by hand.

Every api route is listed, each followed by the requests saved for it (`motia-requests/`);
the builder keeps one draft per route (switching routes never loses typing), pre-fills the
body from `bodySchema`, and sends through the source so an attached workbench calls the
remote server. `{{name}}` variables are filled from the active environment just before a
request goes; what is shown or kept of it (history, the response, curl copies) has the
environment's secrets masked. Responses land in a history that can be reopened and sent
again; the trace id of the last answer is one key away in the Traces pane.
"""

from __future__ import annotations

from dataclasses import replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import (
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from engine import events as ev
from engine.events import WireEvent
from engine.masking import MASK
from motia_tui.curl import is_curl
from motia_tui.endpoint_model import (
    METHODS,
    Draft,
    Exchange,
    Route,
    new_draft,
    outgoing,
    routes_from_steps,
    topics_from_steps,
)
from motia_tui.messages import OpenTrace
from motia_tui.panes.endpoints_emit import EmitTab
from motia_tui.panes.endpoints_files import EMIT_OPTION, NO_ENVIRONMENT, RequestFiles
from motia_tui.source import EngineSource
from motia_tui.widgets.json_editor import JsonEditor
from motia_tui.widgets.request_lists import Asked, HistoryList, RouteList
from motia_tui.widgets.request_parts import BODYLESS, path_params
from motia_tui.widgets.response_view import ResponseBody, ResponseView

HISTORY_MAX = 100


def status_style(status: int | None) -> str:
    if status is None or status >= 500:
        return "bold $text-error"
    if status >= 400:
        return "bold $text-warning"
    if status >= 300:
        return "bold $text-accent"
    return "bold $text-success"


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def project_folder(source: EngineSource) -> Path:
    """Where saved requests and environments live: the engine's project, or the current
    folder when attached (as for the `[keys]` table)."""
    engine = getattr(source, "engine", None)
    return Path(engine.project_dir) if engine is not None else Path.cwd()


class PathInput(Input):
    """The URL line: a pasted curl command fills the whole builder instead of the line."""

    class CurlPasted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def _on_paste(self, event: events.Paste) -> None:
        """Runs before `Input`'s own paste handler, which anything else still reaches."""
        if is_curl(event.text):
            event.stop()
            event.prevent_default()
            self.post_message(self.CurlPasted(event.text))


class EndpointsPane(RequestFiles):
    """Environment, routes and history on the left; request, response and emit tabs."""

    BINDINGS = [
        Binding("ctrl+j,ctrl+s", "send", "Send", id="endpoints-send"),
        Binding("ctrl+t", "open_trace", "Open trace", id="endpoints-open-trace"),
        Binding("escape", "to_routes", "Routes", id="endpoints-to-routes"),
    ]

    class _Steps(Message):
        def __init__(self, steps: dict[str, Any]) -> None:
            super().__init__()
            self.steps = steps

    class _Answered(Message):
        def __init__(self, exchange: Exchange) -> None:
            super().__init__()
            self.exchange = exchange

    def __init__(self, source: EngineSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.project = project_folder(source)
        self.routes: list[Route] = []
        self.history: list[Exchange] = []
        self._drafts: dict[str, Draft] = {}
        self._route: Route | None = None
        self._trace_id: str | None = None
        self._shown: Exchange | None = None
        self._focus_after_load = False
        self._open_after_load: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="endpoints-side"):
            yield Static("Routes", classes="pane-heading")
            yield RouteList(id="endpoints-routes")
            yield Static("History", classes="pane-heading")
            yield HistoryList(id="endpoints-history")
            with Horizontal(id="endpoints-env-row"):
                yield Label("env", classes="endpoints-env-label")
                yield Select[str](
                    [("none", NO_ENVIRONMENT)], allow_blank=False, compact=True,
                    id="endpoints-env",
                )
        with TabbedContent(id="endpoints-tabs", initial="endpoints-request"):
            with TabPane("Request", id="endpoints-request"), VerticalScroll():
                yield Static("", markup=False, id="endpoints-env-line")
                with Horizontal(classes="endpoints-row"):
                    yield Select(
                        [(m, m) for m in METHODS],
                        allow_blank=False,
                        compact=True,
                        id="endpoints-method",
                    )
                    yield PathInput(
                        compact=True, placeholder="/path (or paste a curl command)",
                        id="endpoints-path",
                    )
                yield Vertical(id="endpoints-params")
                with Horizontal(classes="endpoints-row"):
                    yield Label("query", classes="endpoints-label")
                    yield Input(compact=True, placeholder="a=1&b=2", id="endpoints-query")
                yield Label("headers: one `Name: value` a line", classes="endpoints-caption")
                yield TextArea(
                    id="endpoints-headers",
                    soft_wrap=False,
                    compact=True,
                    placeholder="accept: application/json",
                )
                yield Label("body", classes="endpoints-caption")
                yield JsonEditor(allow_empty=True, placeholders=True, id="endpoints-body")
            with TabPane("Response", id="endpoints-response"):
                yield Static("Nothing sent yet: ctrl+j sends the request.", id="endpoints-status")
                yield Static("", markup=False, id="endpoints-response-headers")
                yield ResponseView(id="endpoints-response-view")
            with TabPane("Emit", id="endpoints-emit"):
                yield EmitTab(self.source)

    # -- the pane contract ------------------------------------------------------------

    async def reload(self) -> None:
        self.post_message(self._Steps(await self.source.steps()))

    def apply_events(self, events: list[WireEvent]) -> None:
        if any(event["type"] in ev.STEP_CHANGES for event in events):
            self._load()

    def open_endpoint(self, step_name: str) -> None:
        """Show one api step's builder, ready to type (the Flows pane's Enter). A step this
        pane has not heard of yet (it was hidden when the step loaded) is looked up once
        more before giving up."""
        index = self.option_of_route(step_name)
        if index is None:
            if self._open_after_load == step_name:
                self._open_after_load = None
                self.notify(f"no api step named {step_name}", severity="warning")
            else:
                self._open_after_load = step_name
                self._load()
            return
        self._open_after_load = None
        routes = self.query_one("#endpoints-routes", OptionList)
        if routes.highlighted == index and self._route and self._route.step == step_name:
            self._focus_builder()
        else:
            self._focus_after_load = True
            routes.highlighted = index
        self.query_one(TabbedContent).active = "endpoints-request"

    @work(exclusive=True, group="endpoints-load")
    async def _load(self) -> None:
        await self.reload()

    @on(_Steps)
    def _steps_loaded(self, message: _Steps) -> None:
        self.routes = routes_from_steps(message.steps)
        self.query_one(EmitTab).set_topics(topics_from_steps(message.steps))
        self.refresh_environments()
        self.list_routes()
        if self._open_after_load is not None:
            self.open_endpoint(self._open_after_load)

    # -- choosing a route -------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#endpoints-routes")
    async def _route_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        entry = self.entry_at(message.option_index)
        if entry is not None and entry.route is not None:
            await self._show_route(entry.route)

    @on(OptionList.OptionSelected, "#endpoints-routes")
    async def _route_selected(self, message: OptionList.OptionSelected) -> None:
        tabs = self.query_one(TabbedContent)
        if message.option.id == EMIT_OPTION:
            tabs.active = "endpoints-emit"
            self.query_one(EmitTab).focus_topic()
            return
        entry = self.entry_at(message.option_index)
        if entry is not None and entry.saved is not None:
            await self.load_draft(replace(entry.saved.draft), entry.route)
            self.notify(f"loaded {entry.saved.name}", timeout=3)
        tabs.active = "endpoints-request"
        self._focus_builder()

    async def _show_route(self, route: Route) -> None:
        if self._route is not None:
            self._drafts[self._route.step] = self.capture()
        self._route = route
        draft = self._drafts.get(route.step) or new_draft(route)
        await self._restore(draft)
        if self._focus_after_load:
            self._focus_after_load = False
            self._focus_builder()

    async def load_draft(self, draft: Draft, route: Route | None) -> None:
        """Put a request in the builder: its route's draft when it has one (that route is
        then shown), else the builder as it is, holding this request."""
        if route is None:
            await self._restore(draft)
            return
        self._drafts[route.step] = draft
        if self._route == route:
            await self._restore(draft)
            return
        index = self.option_of_route(route.step)
        if index is not None:
            self.query_one("#endpoints-routes", OptionList).highlighted = index

    def _focus_builder(self) -> None:
        """The first thing to type into: a path parameter, else the body, else the path."""
        params = self.query("#endpoints-params Input").results(Input)
        first = next(iter(params), None)
        if first is not None:
            first.focus()
        elif self._route is not None and self._route.method not in BODYLESS:
            self.query_one("#endpoints-body", JsonEditor).focus()
        else:
            self.query_one("#endpoints-path", Input).focus()

    def capture(self) -> Draft:
        """The builder's fields as a draft."""
        return Draft(
            method=str(self.query_one("#endpoints-method", Select).value),
            path=self.query_one("#endpoints-path", Input).value,
            params={
                str(i.name)[6:]: i.value
                for i in self.query("#endpoints-params Input").results(Input)
                if str(i.name).startswith("param:")
            },
            query={
                str(i.name)[6:]: i.value
                for i in self.query("#endpoints-params Input").results(Input)
                if str(i.name).startswith("query:")
            },
            extra_query=self.query_one("#endpoints-query", Input).value,
            headers=self.query_one("#endpoints-headers", TextArea).text,
            body=self.query_one("#endpoints-body", JsonEditor).text,
        )

    async def _restore(self, draft: Draft) -> None:
        self.query_one("#endpoints-method", Select).value = draft.method
        self.query_one("#endpoints-path", Input).value = draft.path
        self.query_one("#endpoints-query", Input).value = draft.extra_query
        self.query_one("#endpoints-headers", TextArea).load_text(draft.headers)
        self.query_one("#endpoints-body", JsonEditor).text = draft.body
        await self._build_param_rows(draft.params, draft.query)
        self.show_environment(draft)

    async def _build_param_rows(self, params: dict[str, str], query: dict[str, str]) -> None:
        box = self.query_one("#endpoints-params", Vertical)
        await box.remove_children()
        rows = [_field_row(f":{n}", f"param:{n}", v, "value") for n, v in params.items()]
        rows += [_field_row(f"?{n}", f"query:{n}", v, "query value") for n, v in query.items()]
        if rows:
            await box.mount_all(rows)

    @on(Input.Changed, "#endpoints-path")
    async def _path_changed(self, message: Input.Changed) -> None:
        """Typing a new `:param` into the path grows an input for it."""
        wanted = path_params(message.value)
        draft = self.capture()
        if list(draft.params) != wanted:
            params = {name: draft.params.get(name, "") for name in wanted}
            await self._build_param_rows(params, draft.query)

    @on(Input.Changed, "#endpoints-request Input")
    @on(TextArea.Changed, "#endpoints-headers")
    @on(JsonEditor.Changed, "#endpoints-body")
    def _draft_edited(self) -> None:
        """The line over the builder follows the variables typed."""
        self.show_environment(None)

    @on(PathInput.CurlPasted)
    async def _curl_pasted(self, message: PathInput.CurlPasted) -> None:
        await self.import_curl(message.text)

    # -- sending ----------------------------------------------------------------------

    def action_send(self) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == "endpoints-emit":
            self.query_one(EmitTab).send()
            return
        if tabs.active == "endpoints-response" and self._shown is not None:
            self._send(replace(self._shown.draft), self._shown.step)
            return
        self._send(self.capture(), self._route.step if self._route else None)

    def _send(self, draft: Draft, step: str | None) -> None:
        environment = self.environment(fresh=True)
        missing = environment.missing(draft.texts())
        if missing:
            names = ", ".join(f"{{{{{name}}}}}" for name in missing)
            where = (f"environment {environment.name}" if environment.name
                     else "no environment is active (e picks one)")
            self.notify(f"not sent: no value for {names}: {where}", title="Not sent",
                        severity="error", timeout=6)
            return
        sent = outgoing(draft, environment.fill)
        if sent.bad_headers:
            self.notify(f"ignoring header line(s): {'; '.join(sent.bad_headers)}",
                        severity="warning")
        shown = outgoing(draft, environment.masked)
        exchange = Exchange(
            step, draft, sent.method, shown.url,
            curl=self.curl_of(draft, environment),
            environment=environment.name,
            used=tuple((v.name, v.shown) for v in environment.used(draft.texts())),
            sent_headers=shown.headers,
        )
        self._request(exchange, sent.url, sent.headers, sent.body, environment.secrets())

    @work(exclusive=True, group="endpoints-send")
    async def _request(
        self, exchange: Exchange, url: str, headers: dict[str, str], body: str | None,
        secrets: list[str],
    ) -> None:
        try:
            answer = await self.source.request(exchange.method, url, headers, body)
        except Exception as exc:
            error = _hide(str(exc) or repr(exc), secrets)
            self.post_message(self._Answered(replace(exchange, error=error)))
            return
        self.post_message(
            self._Answered(
                replace(
                    exchange,
                    status=answer.status,
                    elapsed_ms=answer.elapsed_ms,
                    headers={k: _hide(v, secrets) for k, v in answer.headers.items()},
                    body=_hide(answer.body, secrets),
                    trace_id=answer.trace_id,
                )
            )
        )

    @on(_Answered)
    def _answered(self, message: _Answered) -> None:
        exchange = message.exchange
        self.history.insert(0, exchange)
        del self.history[HISTORY_MAX:]
        self._show_history()
        self._show_exchange(exchange)
        self._show_response_tab()

    def _show_response_tab(self) -> None:
        """Switch to the answer; focus follows unless the user is in the history list."""
        self.query_one(TabbedContent).active = "endpoints-response"
        if not self.query_one("#endpoints-history", HistoryList).has_focus:
            self.query_one(ResponseBody).focus()

    def _show_exchange(self, exchange: Exchange) -> None:
        self._shown = exchange
        self._trace_id = exchange.trace_id or self._trace_id
        status = self.query_one("#endpoints-status", Static)
        line: list[str | tuple[str, str]] = [(f"{exchange.method} {exchange.url}", "bold"), "\n"]
        if exchange.environment is not None or exchange.used:
            used = ", ".join(f"{name}={value}" for name, value in exchange.used) or "no variables"
            line += [(f"env {exchange.environment or 'none'}: {used}", "$text-muted"), "\n"]
        if exchange.error is not None:
            line.append((f"failed: {exchange.error}", "bold $text-error"))
        else:
            code = exchange.status or 0
            line += [
                (f"{code} {reason(code)}", status_style(code)),
                f"  {exchange.elapsed_ms:.1f} ms",
            ]
            if exchange.trace_id:
                line += ["  trace ", (exchange.trace_id, "$text-accent"), " (ctrl+t)"]
        status.update(Content.assemble(*line))
        self.query_one("#endpoints-response-headers", Static).update(
            "\n".join(f"{name}: {value}" for name, value in exchange.headers.items())
        )
        self.query_one(ResponseView).show(exchange.body)

    def _show_history(self) -> None:
        history = self.query_one("#endpoints-history", HistoryList)
        history.set_options([_history_prompt(e) for e in self.history])
        if history.has_focus and self.history:
            history.highlighted = 0  # the newest entry: the one `r` just sent

    @on(OptionList.OptionSelected, "#endpoints-history")
    async def _history_selected(self, message: OptionList.OptionSelected) -> None:
        exchange = self.history[message.option_index]
        await self._reopen(exchange)
        self._show_exchange(exchange)
        self._show_response_tab()

    @on(Asked)
    async def _asked(self, message: Asked) -> None:
        message.stop()
        if message.what == "resend" and message.index is not None:
            exchange = self.history[message.index]
            await self._reopen(exchange)
            self._send(replace(exchange.draft), exchange.step)
        elif message.what == "history-curl" and message.index is not None:
            self.copy_curl(self.history[message.index].curl)
        else:
            await self.route_list_asked(message.what, message.index)

    async def _reopen(self, exchange: Exchange) -> None:
        """Put a past request back in its route's builder, so it can be edited and re-sent."""
        route = next((r for r in self.routes if r.step == exchange.step), None)
        if route is not None:
            await self.load_draft(replace(exchange.draft), route)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "to_routes":
            return not self.query_one("#endpoints-routes", OptionList).has_focus
        return True

    def action_to_routes(self) -> None:
        """Esc from anywhere in the builder goes back to the list of routes."""
        self.query_one("#endpoints-routes", OptionList).focus()

    @on(EmitTab.Emitted)
    def _emitted(self, message: EmitTab.Emitted) -> None:
        if message.trace_id is not None:
            self._trace_id = message.trace_id

    def action_open_trace(self) -> None:
        if self._trace_id is None:
            self.notify("no trace yet: send a request or emit an event first")
            return
        self.post_message(OpenTrace(self._trace_id))

    @on(ResponseBody.CopyAsked)
    def _copy_body(self) -> None:
        if self._shown is None:
            self.notify("nothing to copy: no answer shown yet")
            return
        text = self._shown.body
        self.app.copy_to_clipboard(text)
        self.notify(f"copied the body ({len(text)} characters)", timeout=3)


def _hide(text: str, secrets: list[str]) -> str:
    """`text` with the environment's secrets masked (a server may echo one back)."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def _history_prompt(exchange: Exchange) -> Content:
    if exchange.error is not None:
        head: tuple[str, str] = ("ERR", status_style(None))
    else:
        head = (str(exchange.status), status_style(exchange.status))
    return Content.assemble(head, f" {exchange.method} {exchange.url}")


def _field_row(label: str, name: str, value: str, placeholder: str) -> Horizontal:
    return Horizontal(
        Label(label, classes="endpoints-label"),
        Input(value, placeholder=placeholder, name=name, compact=True),
        classes="endpoints-row",
    )
