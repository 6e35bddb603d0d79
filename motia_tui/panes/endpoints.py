"""The Endpoints pane: call the project's api steps and emit its events by hand.

Every api route is listed; the builder keeps one draft per route (switching routes never
loses typing), pre-fills the body from `bodySchema`, and sends through the source so an
attached workbench calls the remote server. Responses land in a history that can be reopened
and sent again. The trace id of the last answer is one key away in the Traces pane.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

from textual import on, work
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
from textual.widgets.option_list import Option

from engine import events as ev
from engine.events import WireEvent
from motia_tui.messages import OpenTrace
from motia_tui.source import EngineSource
from motia_tui.widgets.highlight import HighlightedTextArea
from motia_tui.widgets.json_editor import JsonEditor, JsonInvalid, pretty
from motia_tui.widgets.request_parts import (
    BODYLESS,
    fill_path,
    parse_headers,
    path_params,
    query_string,
    with_json_type,
)
from motia_tui.widgets.schema_example import example_from_schema

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
HISTORY_MAX = 100
EMIT_OPTION = "emit"


@dataclass(frozen=True)
class Route:
    step: str
    method: str
    path: str
    body_schema: Any
    query_params: tuple[str, ...]


@dataclass
class Draft:
    """What the builder holds for one route; kept while the user looks at another."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    extra_query: str = ""
    headers: str = ""
    body: str = ""


@dataclass(frozen=True)
class Exchange:
    """One sent request and what came back (or why nothing did)."""

    step: str | None
    draft: Draft
    method: str
    url: str
    status: int | None = None
    elapsed_ms: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    trace_id: str | None = None
    error: str | None = None


def routes_from_steps(steps: dict[str, Any]) -> list[Route]:
    """Every api step as a route, sorted by path then method so the list reads like a map."""
    routes = [
        Route(
            step=str(s["name"]),
            method=str(s.get("method") or "GET").upper(),
            path=str(s.get("path") or "/"),
            body_schema=s.get("bodySchema"),
            query_params=tuple(
                str(q.get("name")) for q in s.get("queryParams") or [] if isinstance(q, dict)
            ),
        )
        for s in steps.get("steps") or []
        if s.get("type") == "api"
    ]
    return sorted(routes, key=lambda r: (r.path, _method_rank(r.method)))


def _method_rank(method: str) -> int:
    return METHODS.index(method) if method in METHODS else len(METHODS)


def topics_from_steps(steps: dict[str, Any]) -> dict[str, Any]:
    """Topic -> the input schema of its first subscriber that declares one (for pre-filling
    the data); None when no subscriber does."""
    topics: dict[str, Any] = {}
    for step in steps.get("steps") or []:
        for topic in step.get("subscribes") or []:
            if topics.get(str(topic)) is None:
                topics[str(topic)] = step.get("input")
    return dict(sorted(topics.items()))


def new_draft(route: Route) -> Draft:
    body = ""
    if route.method not in BODYLESS:
        example = example_from_schema(route.body_schema)
        body = pretty(example if example is not None else {})
    return Draft(
        method=route.method,
        path=route.path,
        params=dict.fromkeys(path_params(route.path), ""),
        query=dict.fromkeys(route.query_params, ""),
        body=body,
    )


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


class PickList(OptionList):
    """An option list that also moves with `j` and `k`."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="list-down"),
        Binding("k", "cursor_up", "Up", show=False, id="list-up"),
        Binding("g", "first", "First", show=False, id="list-first"),
        Binding("G", "last", "Last", show=False, id="list-last"),
    ]


class HistoryList(PickList):
    """Sent requests, newest first; Enter reopens one, `r` sends it again."""

    BINDINGS = [Binding("r", "resend", "Re-send", id="endpoints-resend")]

    class Resend(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def on_focus(self) -> None:
        """Arriving on the list puts the cursor on the newest entry, so `r` always has one."""
        if self.highlighted is None and self.option_count:
            self.highlighted = 0

    def action_resend(self) -> None:
        if self.highlighted is not None:
            self.post_message(self.Resend(self.highlighted))


class EndpointsPane(Horizontal):
    """Routes and history on the left; request, response and emit tabs on the right."""

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

    class _Emitted(Message):
        def __init__(self, topic: str, trace_id: str | None, error: str | None) -> None:
            super().__init__()
            self.topic = topic
            self.trace_id = trace_id
            self.error = error

    def __init__(self, source: EngineSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.routes: list[Route] = []
        self.topics: dict[str, Any] = {}
        self.history: list[Exchange] = []
        self._drafts: dict[str, Draft] = {}
        self._emit_drafts: dict[str, str] = {}
        self._route: Route | None = None
        self._topic: str | None = None
        self._trace_id: str | None = None
        self._shown: Exchange | None = None
        self._focus_after_load = False
        self._open_after_load: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="endpoints-side"):
            yield Static("Routes", classes="pane-heading")
            yield PickList(id="endpoints-routes")
            yield Static("History", classes="pane-heading")
            yield HistoryList(id="endpoints-history")
        with TabbedContent(id="endpoints-tabs", initial="endpoints-request"):
            with TabPane("Request", id="endpoints-request"), VerticalScroll():
                with Horizontal(classes="endpoints-row"):
                    yield Select(
                        [(m, m) for m in METHODS],
                        allow_blank=False,
                        compact=True,
                        id="endpoints-method",
                    )
                    yield Input(compact=True, placeholder="/path", id="endpoints-path")
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
                yield JsonEditor(allow_empty=True, id="endpoints-body")
            with TabPane("Response", id="endpoints-response"):
                yield Static("Nothing sent yet: ctrl+j sends the request.", id="endpoints-status")
                yield Static("", markup=False, id="endpoints-response-headers")
                yield HighlightedTextArea(
                    read_only=True, soft_wrap=True, id="endpoints-response-body"
                )
            with TabPane("Emit", id="endpoints-emit"):
                with Horizontal(classes="endpoints-row"):
                    yield Label("topic", classes="endpoints-label")
                    yield Select[str]([], prompt="topic", compact=True, id="endpoints-topic")
                yield JsonEditor(id="endpoints-emit-data")
                yield Static(
                    "ctrl+j emits the event to every subscriber.", id="endpoints-emit-result"
                )

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
        index = next((i for i, r in enumerate(self.routes) if r.step == step_name), None)
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
        if routes.highlighted == index and self._route == self.routes[index]:
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
        self.topics = topics_from_steps(message.steps)
        routes = self.query_one("#endpoints-routes", OptionList)
        current = self._route.step if self._route else None
        routes.set_options(
            [Option(_route_prompt(r), id=f"route-{i}") for i, r in enumerate(self.routes)]
            + [Option(Content.assemble(("⚡", "$text-accent"), " emit an event"), id=EMIT_OPTION)]
        )
        index = next((i for i, r in enumerate(self.routes) if r.step == current), 0)
        if self.routes:
            routes.highlighted = index
        topic_select: Select[str] = self.query_one("#endpoints-topic", Select)
        topic_select.set_options([(Content(t), t) for t in self.topics])
        if self._topic in self.topics:
            topic_select.value = self._topic
        elif self.topics:
            topic_select.value = next(iter(self.topics))
        if self._open_after_load is not None:
            self.open_endpoint(self._open_after_load)

    # -- choosing a route -------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#endpoints-routes")
    async def _route_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        if message.option.id == EMIT_OPTION:
            return
        await self._show_route(self.routes[message.option_index])

    @on(OptionList.OptionSelected, "#endpoints-routes")
    def _route_selected(self, message: OptionList.OptionSelected) -> None:
        tabs = self.query_one(TabbedContent)
        if message.option.id == EMIT_OPTION:
            tabs.active = "endpoints-emit"
            self.query_one("#endpoints-topic", Select).focus()
            return
        tabs.active = "endpoints-request"
        self._focus_builder()

    async def _show_route(self, route: Route) -> None:
        if self._route is not None:
            self._drafts[self._route.step] = self._capture()
        self._route = route
        draft = self._drafts.get(route.step) or new_draft(route)
        await self._restore(draft)
        if self._focus_after_load:
            self._focus_after_load = False
            self._focus_builder()

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

    def _capture(self) -> Draft:
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
        draft = self._capture()
        if list(draft.params) != wanted:
            params = {name: draft.params.get(name, "") for name in wanted}
            await self._build_param_rows(params, draft.query)

    # -- sending ----------------------------------------------------------------------

    def action_send(self) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == "endpoints-emit":
            self._send_emit()
            return
        if tabs.active == "endpoints-response" and self._shown is not None:
            self._send(replace(self._shown.draft), self._shown.step)
            return
        self._send(self._capture(), self._route.step if self._route else None)

    def _send(self, draft: Draft, step: str | None) -> None:
        headers, bad = parse_headers(draft.headers)
        if bad:
            self.notify(f"ignoring header line(s): {'; '.join(bad)}", severity="warning")
        url = fill_path(draft.path or "/", draft.params) + query_string(
            draft.query.items(), draft.extra_query
        )
        body = draft.body if draft.body.strip() else None
        self._request(Exchange(step, draft, draft.method, url), with_json_type(headers, body), body)

    @work(exclusive=True, group="endpoints-send")
    async def _request(self, exchange: Exchange, headers: dict[str, str], body: str | None) -> None:
        try:
            answer = await self.source.request(exchange.method, exchange.url, headers, body)
        except Exception as exc:
            self.post_message(self._Answered(replace(exchange, error=str(exc) or repr(exc))))
            return
        self.post_message(
            self._Answered(
                replace(
                    exchange,
                    status=answer.status,
                    elapsed_ms=answer.elapsed_ms,
                    headers=dict(answer.headers),
                    body=answer.body,
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
            self.query_one("#endpoints-response-body", HighlightedTextArea).focus()

    def _show_exchange(self, exchange: Exchange) -> None:
        self._shown = exchange
        self._trace_id = exchange.trace_id or self._trace_id
        status = self.query_one("#endpoints-status", Static)
        line: list[str | tuple[str, str]] = [(f"{exchange.method} {exchange.url}", "bold"), "\n"]
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
        body = self.query_one("#endpoints-response-body", HighlightedTextArea)
        try:
            text, language = pretty(json.loads(exchange.body)), "json"
        except ValueError:
            text, language = exchange.body, None
        body.highlight_language = language
        body.load_text(text)

    def _show_history(self) -> None:
        history = self.query_one("#endpoints-history", HistoryList)
        history.set_options([Option(_history_prompt(e)) for e in self.history])
        if history.has_focus and self.history:
            history.highlighted = 0  # the newest entry: the one `r` just sent

    @on(OptionList.OptionSelected, "#endpoints-history")
    async def _history_selected(self, message: OptionList.OptionSelected) -> None:
        exchange = self.history[message.option_index]
        await self._reopen(exchange)
        self._show_exchange(exchange)
        self._show_response_tab()

    @on(HistoryList.Resend)
    async def _history_resend(self, message: HistoryList.Resend) -> None:
        exchange = self.history[message.index]
        await self._reopen(exchange)
        self._send(replace(exchange.draft), exchange.step)

    async def _reopen(self, exchange: Exchange) -> None:
        """Put a past request back in its route's builder, so it can be edited and re-sent."""
        route = next((r for r in self.routes if r.step == exchange.step), None)
        if route is None:
            return
        self._drafts[route.step] = replace(exchange.draft)
        if self._route == route:
            await self._restore(replace(exchange.draft))
        else:
            self.query_one("#endpoints-routes", OptionList).highlighted = self.routes.index(route)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "to_routes":
            return not self.query_one("#endpoints-routes", OptionList).has_focus
        return True

    def action_to_routes(self) -> None:
        """Esc from anywhere in the builder goes back to the list of routes."""
        self.query_one("#endpoints-routes", OptionList).focus()

    def action_open_trace(self) -> None:
        if self._trace_id is None:
            self.notify("no trace yet: send a request or emit an event first")
            return
        self.post_message(OpenTrace(self._trace_id))

    # -- emitting ---------------------------------------------------------------------

    @on(Select.Changed, "#endpoints-topic")
    def _topic_changed(self, message: Select.Changed) -> None:
        editor = self.query_one("#endpoints-emit-data", JsonEditor)
        if self._topic is not None:
            self._emit_drafts[self._topic] = editor.text
        self._topic = message.value if isinstance(message.value, str) else None
        if self._topic is None:
            return
        text = self._emit_drafts.get(self._topic)
        if text is None:
            example = example_from_schema(self.topics.get(self._topic))
            text = pretty(example if example is not None else {})
        editor.text = text

    def _send_emit(self) -> None:
        if self._topic is None:
            self.notify("no topic: no step subscribes to anything yet", severity="warning")
            return
        try:
            data = self.query_one("#endpoints-emit-data", JsonEditor).value()
        except JsonInvalid as exc:
            self.notify(f"not sent: {exc}", title="Invalid JSON", severity="error")
            return
        self._emit(self._topic, data)

    @work(exclusive=True, group="endpoints-emit")
    async def _emit(self, topic: str, data: Any) -> None:
        try:
            trace_id = await self.source.emit(topic, data)
        except Exception as exc:
            self.post_message(self._Emitted(topic, None, str(exc) or repr(exc)))
        else:
            self.post_message(self._Emitted(topic, trace_id, None))

    @on(_Emitted)
    def _emitted(self, message: _Emitted) -> None:
        result = self.query_one("#endpoints-emit-result", Static)
        if message.error is not None:
            result.update(Content.assemble((f"failed: {message.error}", "bold $text-error")))
            return
        self._trace_id = message.trace_id
        result.update(
            Content.assemble(
                "emitted ",
                (message.topic, "bold"),
                ": trace ",
                (str(message.trace_id), "$text-accent"),
                " (ctrl+t)",
            )
        )


def _route_prompt(route: Route) -> Content:
    return Content.assemble((f"{route.method:<7}", "bold"), route.path)


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
