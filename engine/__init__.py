"""The step engine: run Motia-format projects (api, event, cron and noop steps) in process.

Step authors import their types from here; tools embed `Engine` and serve `build_app`.

The names below are loaded on first use (a module `__getattr__`): importing `engine`, or one
small module of it such as `engine.events`, does not import the runtime, the HTTP server and
everything they need.
"""

import importlib
from typing import TYPE_CHECKING

from engine.native import load_only_current_extensions

load_only_current_extensions()

if TYPE_CHECKING:
    from engine.context import FlowContext
    from engine.records import ApiRequest, ApiResponse, AttrDict
    from engine.runtime import Engine
    from engine.settings import Settings, SettingsError, load_settings
    from engine.steps import Step, StepError

_HOMES = {
    "ApiRequest": "engine.records",
    "ApiResponse": "engine.records",
    "AttrDict": "engine.records",
    "Engine": "engine.runtime",
    "FlowContext": "engine.context",
    "Settings": "engine.settings",
    "SettingsError": "engine.settings",
    "Step": "engine.steps",
    "StepError": "engine.steps",
    "load_settings": "engine.settings",
}

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "AttrDict",
    "Engine",
    "FlowContext",
    "Settings",
    "SettingsError",
    "Step",
    "StepError",
    "load_settings",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
