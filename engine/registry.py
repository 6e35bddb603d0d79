"""The step registry: every loaded step and stream, by name and by file, and load errors.

One table that the bus (subscribers by topic), cron (the cron steps), the router (routes, by
`version`) and the executor read, so a step loaded, replaced or removed by hot reload is seen
by all of them at once. It validates what it is given (duplicate names, route clashes);
announcing changes is the engine's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.steps import Step, StepError
from engine.streams import StreamDefinition


class StepRegistry:
    """Steps and streams in service."""

    def __init__(self) -> None:
        self.steps: dict[str, Step] = {}
        self.files: dict[Path, list[str]] = {}
        self.streams: dict[str, StreamDefinition] = {}
        self.stream_files: dict[Path, str] = {}
        self.errors: dict[Path, StepError] = {}
        self.subscribers: dict[str, list[Step]] = {}
        self.version = 0
        """Counts changes to the steps, so readers with a table of their own know to rebuild."""
        self.on_change: list[Callable[[list[Step]], None]] = []

    def add_step(self, path: Path, step: Step) -> None:
        """Put `step` (from `path`) in service, replacing what the file held before."""
        for other in self.steps.values():
            if other.name == step.name and other.file != path:
                raise StepError(
                    path,
                    step.line,
                    f"duplicate step name {step.name!r}: also defined in {other.file}",
                )
            if (
                step.type == "api"
                and other.type == "api"
                and other.file != path
                and other.method == step.method
                and other.path == step.path
            ):
                raise StepError(
                    path,
                    step.line,
                    f"route clash: {step.method} {step.path} is "
                    f"already served by {other.name} ({other.file})",
                )
        for name in self.files.get(path, []):
            if name != step.name:
                self.steps.pop(name, None)
        self.steps[step.name] = step
        self.files[path] = [step.name]
        self.errors.pop(path, None)
        self._changed()

    def add_stream(self, path: Path, definition: StreamDefinition) -> None:
        owner = next((p for p, n in self.stream_files.items() if n == definition.name), None)
        if owner is not None and owner != path:
            raise StepError(
                path,
                definition.line,
                f"duplicate stream name {definition.name!r}: also defined in {owner}",
            )
        old = self.stream_files.get(path)
        if old is not None and old != definition.name:
            self.streams.pop(old, None)
        self.streams[definition.name] = definition
        self.stream_files[path] = definition.name
        self.errors.pop(path, None)

    def fail(self, path: Path, error: StepError) -> list[str]:
        """Record a file that failed to load; answers the steps it still serves."""
        self.errors[path] = error
        return self.files.get(path, [])

    def remove_file(self, path: Path) -> tuple[list[str], str | None]:
        """Take a deleted file's steps and stream out of service; answers their names."""
        self.errors.pop(path, None)
        names = self.files.pop(path, [])
        for name in names:
            self.steps.pop(name, None)
        stream = self.stream_files.pop(path, None)
        if stream is not None:
            self.streams.pop(stream, None)
        self._changed()
        return names, stream

    def loaded_paths(self) -> list[Path]:
        return list(self.files) + list(self.stream_files) + list(self.errors)

    def _changed(self) -> None:
        steps = list(self.steps.values())
        subscribers: dict[str, list[Step]] = {}
        for step in steps:
            if step.type == "event":
                for topic in step.subscribes:
                    subscribers.setdefault(topic, []).append(step)
        self.subscribers = subscribers
        self.version += 1
        for listener in self.on_change:
            listener(steps)
