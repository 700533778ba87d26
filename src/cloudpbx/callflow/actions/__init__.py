"""The callflow actions this engine runs, found by convention: each module of this package is the action of its
name and exports `run(execution, data) -> next child key or STOP`; a new action is a new module and nothing else."""

from __future__ import annotations

import pkgutil
from collections.abc import Awaitable, Callable
from importlib import import_module

from cloudpbx.callflow.execution import Execution, Next

Action = Callable[[Execution, dict], Awaitable[Next]]


def _discovered() -> dict[str, Action]:
    return {info.name: import_module(f"{__name__}.{info.name}").run for info in pkgutil.iter_modules(__path__)}


ACTIONS: dict[str, Action] = _discovered()
