"""The step engine: run Motia-format projects (api, event, cron and noop steps) in process.

Step authors import their types from here; tools embed `Engine` and serve `build_app`.
"""

from engine.context import FlowContext
from engine.records import ApiRequest, ApiResponse, AttrDict
from engine.runtime import Engine
from engine.settings import Settings, SettingsError, load_settings
from engine.steps import Step, StepError

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
