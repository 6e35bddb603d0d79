"""Re-running a trace: its whole trigger sent again, or one span's input, edited, sent again.

A re-run of an api trace sends the recorded request through the project's own ASGI app, in
process; of an emit, emits the same event; of a cron trace, runs the step now. A re-run from
a span sends that span's input (as edited) to that step alone: an api step gets the request
the input describes, an event step one delivery of the input on the topic it came on, and
downstream steps run as usual. Either way the new trace's root span records `rerunOf` (and
`rerunOfSpan`), set here through `triggers.RERUN_OF` and never read from a request.

A request sent with credentials (withheld from the record) is not sent again without them:
the caller gives them (`headers`), and until then the re-run is refused with status 428,
naming the headers it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from engine import jsonio, triggers
from engine.state import StateError, encode

if TYPE_CHECKING:
    import httpx

    from engine.http import ASGIApp
    from engine.runtime import Engine

DROPPED_HEADERS = frozenset({"content-length", "transfer-encoding", "host"})
"""Headers that describe the old connection, not the request: the client sets its own."""


class RerunError(Exception):
    """A re-run that cannot be sent: `status` and `details` are the API's answer."""

    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


class Rerunner:
    """Sends triggers again into one engine, its api requests through `app`."""

    def __init__(self, engine: Engine, app: ASGIApp) -> None:
        self.engine = engine
        self.app = app

    async def rerun(
        self, trace_id: str, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Send the trace's trigger again; answers the new trace's id (and its response)."""
        trigger = await triggers.read(self.engine.store, trace_id)
        if trigger is None:
            known = await self.engine.traces.find(trace_id)
            if known is None:
                raise RerunError(404, f"no trace {trace_id}")
            raise RerunError(
                409,
                f"the trigger of trace {trace_id} is no longer kept (the store keeps the "
                "newest `trigger_store` triggers); re-run it from a span instead",
            )
        link = {"traceId": trace_id}
        kind = trigger.get("kind")
        if kind == triggers.API:
            needed = _missing(trigger.get("withheld") or [], headers or {})
            if needed:
                raise _credentials_needed(trace_id, needed)
            sent = {**_kept_headers(trigger.get("headers") or {}), **_given(headers or {})}
            return await self._request(
                link,
                str(trigger["method"]),
                str(trigger["path"]),
                str(trigger.get("query") or ""),
                sent,
                triggers.raw_body(trigger),
            )
        if kind == triggers.EMIT:
            return await self._emit(link, str(trigger["topic"]), trigger.get("data"))
        if kind == triggers.CRON:
            return self._cron(link, str(trigger["step"]))
        if kind == triggers.DELIVERY:
            return await self._deliver(
                link, str(trigger["step"]), str(trigger["topic"]), trigger.get("data")
            )
        raise RerunError(400, f"trace {trace_id} was started by {kind!r}, which is not re-run")

    async def rerun_from(
        self,
        trace_id: str,
        span_id: str,
        input_: Any,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send `input_` (the span's input, edited) to the span's step alone."""
        trace = await self.engine.traces.find(trace_id)
        if trace is None:
            raise RerunError(404, f"no trace {trace_id}")
        span = next((s for s in trace["spans"] if s.get("spanId") == span_id), None)
        if span is None:
            raise RerunError(404, f"trace {trace_id} has no span {span_id}")
        link = {"traceId": trace_id, "spanId": span_id}
        kind, step = span.get("kind"), str(span.get("step"))
        if kind == "api":
            return await self._api_from(link, trace_id, input_, headers or {})
        if kind == "event":
            topic = span.get("topic") or self._first_topic(step)
            return await self._deliver(link, step, str(topic), input_)
        if kind == "cron":
            return self._cron(link, step)
        if kind == "manual" and step.startswith("emit "):
            return await self._emit(link, step[len("emit ") :], input_)
        raise RerunError(400, f"span {span_id} ({step}) is not a step run that can be re-run")

    # -- each kind of trigger --------------------------------------------------------------

    async def _api_from(
        self, link: dict[str, str], trace_id: str, input_: Any, headers: Mapping[str, str]
    ) -> dict[str, Any]:
        if not isinstance(input_, dict) or not isinstance(input_.get("path"), str):
            raise RerunError(400, "an api span's input is an object with at least a 'path'")
        trigger = await triggers.read(self.engine.store, trace_id) or {}
        needed = _missing(trigger.get("withheld") or [], headers)
        if needed:
            raise _credentials_needed(trace_id, needed)
        sent = {**_kept_headers(input_.get("headers") or {}), **_given(headers)}
        body = input_.get("body")
        method = str(input_.get("method") or "GET").upper()
        if method in ("GET", "HEAD") or body is None or body == {}:
            raw = b""
        elif isinstance(body, str):
            raw = body.encode("utf-8")
        else:
            raw = jsonio.dumps_bytes(body)
            sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
            sent["content-type"] = "application/json"
        query = urlencode(input_.get("queryParams") or {}, doseq=True)
        return await self._request(link, method, input_["path"], query, sent, raw)

    async def _request(
        self,
        link: dict[str, str],
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        raw: bytes,
    ) -> dict[str, Any]:
        import httpx  # not at import: it loads a terminal library the engine must not

        token = triggers.RERUN_OF.set(link)
        try:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://rerun") as client:
                url = path + (f"?{query}" if query else "")
                response = await client.request(method, url, headers=headers, content=raw)
        finally:
            triggers.RERUN_OF.reset(token)
        new_id = response.headers.get("x-trace-id")
        if not new_id:
            raise RerunError(
                409,
                f"{method} {path} answered {response.status_code} without running a step "
                "(is the route still there?)",
                _body(response),
            )
        return {
            "traceId": new_id,
            **_linked(link),
            "response": {"status": response.status_code, "body": _body(response)},
        }

    async def _emit(self, link: dict[str, str], topic: str, data: Any) -> dict[str, Any]:
        token = triggers.RERUN_OF.set(link)
        try:
            new_id = await self.engine.emit_committed(topic, data)
        except TypeError as exc:
            raise RerunError(400, str(exc)) from None
        finally:
            triggers.RERUN_OF.reset(token)
        return {"traceId": new_id, **_linked(link)}

    def _cron(self, link: dict[str, str], step: str) -> dict[str, Any]:
        token = triggers.RERUN_OF.set(link)
        try:
            new_id = self.engine.trigger_cron(step)
        except KeyError as exc:
            raise RerunError(409, f"cannot re-run: {exc.args[0]}") from None
        finally:
            triggers.RERUN_OF.reset(token)
        return {"traceId": new_id, **_linked(link)}

    async def _deliver(
        self, link: dict[str, str], step_name: str, topic: str, data: Any
    ) -> dict[str, Any]:
        """One delivery of `data` on `topic` to `step_name` alone, in a new trace."""
        engine = self.engine
        step = engine.steps.get(step_name)
        if step is None or step.type != "event" or topic not in step.subscribes:
            raise RerunError(409, f"cannot re-run: no event step {step_name!r} takes {topic!r}")
        try:
            data_json = encode(data)
        except StateError as exc:
            raise RerunError(400, f"the input must be JSON: {exc}") from None
        token = triggers.RERUN_OF.set(link)
        try:
            run = engine.executor.manual_run(f"rerun {step_name}", data)
        finally:
            triggers.RERUN_OF.reset(token)
        triggers.record(
            engine.store, run.trace_id, triggers.delivery_trigger(step_name, topic, data)
        )
        engine.executor.queue_deliveries(
            run,
            engine.bus.make_deliveries(
                topic, data_json, run.trace_id, run.span.span_id, only=step_name
            ),
        )
        done = engine.executor.finish_manual(run)
        if done is not None:
            await done
        return {"traceId": run.trace_id, **_linked(link)}

    def _first_topic(self, step_name: str) -> str:
        step = self.engine.steps.get(step_name)
        if step is None or not step.subscribes:
            raise RerunError(409, f"cannot re-run: no event step {step_name!r}")
        return str(step.subscribes[0])


def _linked(link: dict[str, str]) -> dict[str, str]:
    """`rerunOf` (and `rerunOfSpan`) as the new trace records them."""
    linked = {"rerunOf": link["traceId"]}
    if "spanId" in link:
        linked["rerunOfSpan"] = link["spanId"]
    return linked


def _missing(withheld: list[str], given: Mapping[str, str]) -> list[str]:
    names = {k.lower() for k in given}
    return [name for name in withheld if name not in names]


def _credentials_needed(trace_id: str, needed: list[str]) -> RerunError:
    return RerunError(
        428,
        f"trace {trace_id} was sent with {', '.join(needed)}, which is never recorded: give "
        "it to send the request again (an empty value sends it without)",
        {"needs": needed},
    )


def _kept_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in headers.items() if str(k).lower() not in DROPPED_HEADERS}


def _given(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's headers; one given empty is left out of the request."""
    return {k: v for k, v in headers.items() if v}


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
