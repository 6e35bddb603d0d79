"""Every step of a project, Python and Node, read without serving it: what `motia openapi`
describes. Python step files are imported here; TypeScript and JavaScript ones are loaded by
a Node worker as the engine does (started only when the project has such files, and stopped
before this returns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import discovery
from engine.logs import StepLogger
from engine.node.steps import NodeSteps
from engine.steps import Step, StepError


async def load_project_steps(project_dir: Path) -> tuple[list[Step], list[StepError]]:
    steps, errors = discovery.load_steps(project_dir)
    if not discovery.find_node_files(project_dir):
        return steps, errors

    def install(_path: Path, step: Step) -> None:
        steps.append(step)

    def fail(_path: Path, error: StepError, _loaded_before: bool) -> None:
        errors.append(error)

    def ignore(_record: Any) -> None:
        """Progress lines of the Node loader; its failures arrive through `fail`."""

    node = NodeSteps(project_dir, StepLogger(ignore, None, None, []), install, fail,
                     lambda _path: None)
    try:
        await node.load_all()
    finally:
        await node.stop()
    return steps, errors
