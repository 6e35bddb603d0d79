"""Two traces side by side: their outcome, the steps they ran, what they emitted and the state
they changed, row by row, each row marked when the two differ.

Ids made from either trace (an order id cut from a trace id, span ids) are shown as `<id>`,
so a re-run that behaved the same compares the same. The workbench draws the rows in two
columns; `motia trace diff` prints them as text or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from engine import trace_facts
from engine.loose_match import UUID, is_own_id

OWN_ID = "<id>"
COLUMN = 38


def _own_ids(spans: Sequence[Mapping[str, Any]]) -> set[str]:
    return {
        str(span[field])
        for span in spans
        for field in ("traceId", "spanId", "deliveryId")
        if span.get(field)
    }


def _plain(value: Any, ids: set[str]) -> Any:
    """`value` with the trace's own ids written as `<id>`."""
    if isinstance(value, Mapping):
        return {_plain(k, ids): _plain(v, ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, ids) for item in value]
    if isinstance(value, str) and (is_own_id(value, ids) or UUID.match(value)):
        return OWN_ID
    return value


def _facts(trace: Mapping[str, Any], ids: set[str]) -> dict[str, dict[str, Any]]:
    """The rows of one trace, by section and row name, with `ids` written as `<id>`."""
    spans: list[dict[str, Any]] = trace.get("spans") or []
    outcome = trace_facts.outcome(spans)
    response = outcome["response"] or {}
    steps: dict[str, list[str]] = {}
    for run in trace_facts.steps_run(spans):
        attempts = run["attempts"]
        steps.setdefault(str(run["step"]), []).append(
            f"{run['status']}" + (f" after {attempts} attempts" if attempts > 1 else "")
        )
    emits: dict[str, Any] = {}
    for emit in trace_facts.emits(spans):
        name = f"{emit['topic']} from {emit['step']}"
        count = sum(1 for key in emits if key.split(" #")[0] == name)
        emits[name if not count else f"{name} #{count + 1}"] = _plain(emit["data"], ids)
    state = {
        f"{group}/{'*' if key is None else _plain(key, ids)}": _plain(change, ids)
        for (group, key), change in trace_facts.net_state(spans).items()
    }
    return {
        "outcome": {
            "status": outcome["status"],
            "response status": response.get("status"),
            "response body": _plain(response.get("body"), ids),
            "errors": [f"{e['step']}: {e['error']}" for e in outcome["errors"]] or None,
        },
        "steps run": {step: ", ".join(runs) for step, runs in steps.items()},
        "emits": emits,
        "state": state,
    }


def diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The diff of two trace details: sections of rows `{name, a, b, same}`. The ids of
    either trace count as ids in both: a re-run from a span carries its original's."""
    ids = _own_ids([*(a.get("spans") or []), *(b.get("spans") or [])])
    left, right = _facts(a, ids), _facts(b, ids)
    sections: list[dict[str, Any]] = []
    for title in ("outcome", "steps run", "emits", "state"):
        names = list(dict.fromkeys([*left[title], *right[title]]))
        rows = []
        for name in names:
            in_a, in_b = name in left[title], name in right[title]
            value_a, value_b = left[title].get(name), right[title].get(name)
            rows.append(
                {
                    "name": name,
                    "a": value_a,
                    "b": value_b,
                    "inA": in_a,
                    "inB": in_b,
                    "same": in_a == in_b and value_a == value_b,
                }
            )
        sections.append({"title": title, "rows": rows})
    return {
        "a": a.get("traceId"),
        "b": b.get("traceId"),
        "same": all(row["same"] for section in sections for row in section["rows"]),
        "sections": sections,
    }


def show(value: Any, present: bool = True) -> str:
    """A cell's text: `—` for a row the trace does not have."""
    if not present:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"before", "after"}:
        return f"{show(value['before'])} → {show(value['after'])}"
    return json.dumps(value, ensure_ascii=False, default=repr)


def render_text(result: Mapping[str, Any], width: int = COLUMN) -> str:
    """The diff as two columns of text; `≠` marks the rows that differ."""
    lines = [
        f"  {'':<20} {'A ' + str(result['a'])[:8]:<{width}} {'B ' + str(result['b'])[:8]}",
    ]
    for section in result["sections"]:
        lines.append(f"── {section['title']}")
        if not section["rows"]:
            lines.append("  (none in either)")
        for row in section["rows"]:
            mark = "  " if row["same"] else "≠ "
            left = _cut(show(row["a"], row["inA"]), width)
            right = show(row["b"], row["inB"])
            lines.append(f"{mark}{_cut(row['name'], 20):<20} {left:<{width}} {right}")
    verdict = "the traces did the same" if result["same"] else "the traces differ (≠)"
    lines.append(verdict)
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
