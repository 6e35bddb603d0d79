"""The flow graph: nodes from steps, edges from what a step emits to who subscribes.

Real edges join an emitted topic to the event steps that subscribe to it; virtual edges join
`virtualEmits` to `virtualSubscribes` (how a noop or an outside actor is drawn into a flow).
A step may sit in several flows; each flow's graph holds only its own steps.
"""

from __future__ import annotations

from typing import Any

from engine.steps import Emit, Step


def _node(step: Step) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": step.name,
        "name": step.name,
        "type": step.type,
        "description": step.description,
        "emits": [e.topic for e in step.emits],
        "subscribes": step.subscribes,
        "virtualEmits": [e.topic for e in step.virtual_emits],
        "virtualSubscribes": step.virtual_subscribes,
        "file": str(step.file),
        "language": step.language,
    }
    if step.type == "api":
        node["path"] = step.path
        node["method"] = step.method
    if step.type == "cron":
        node["cron"] = step.cron
    return node


def _edge(source: Step, target: Step, emit: Emit, virtual: bool) -> dict[str, Any]:
    edge: dict[str, Any] = {
        "from": source.name,
        "to": target.name,
        "topic": emit.topic,
        "virtual": virtual,
    }
    if emit.label:
        edge["label"] = emit.label
    if emit.conditional:
        edge["conditional"] = True
    return edge


def flow_edges(steps: list[Step]) -> list[dict[str, Any]]:
    """Emits join subscribes; virtual emits join virtual subscribes (or real ones)."""
    edges: list[dict[str, Any]] = []
    for source in steps:
        for target in steps:
            edges.extend(
                _edge(source, target, emit, False)
                for emit in source.emits
                if emit.topic in target.subscribes
            )
            edges.extend(
                _edge(source, target, emit, True)
                for emit in source.virtual_emits
                if emit.topic in target.virtual_subscribes or emit.topic in target.subscribes
            )
    return edges


NO_FLOW = "(no flow)"
"""The graph of the steps whose config names no flow, so every step is in some graph."""


def build_flows(steps: list[Step]) -> list[dict[str, Any]]:
    """One graph per flow name, sorted by name, then `(no flow)` for the steps that name
    none (when there are such steps)."""
    by_flow: dict[str, list[Step]] = {}
    for step in steps:
        for flow in step.flows:
            by_flow.setdefault(flow, []).append(step)
    groups = sorted(by_flow.items())
    unflowed = [step for step in steps if not step.flows]
    if unflowed:
        groups.append((NO_FLOW, unflowed))
    return [
        {
            "name": name,
            "nodes": [_node(s) for s in members],
            "edges": flow_edges(members),
        }
        for name, members in groups
    ]
