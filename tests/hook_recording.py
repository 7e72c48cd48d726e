"""Which hooks the test session made the core call on a plugin that is not a built-in
default: the record behind the "every hook is tested" meta-test (see conftest.py)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from parrhesia.contract.hookspecs import PROJECT_NAME
from parrhesia.contract.manager import DEFAULT_PLUGINS

__all__ = ["HookCalls", "CALLS", "start_recording", "stop_recording"]


@dataclass
class HookCalls:
    """Hook name -> ids of the tests in which a non-built-in implementation of it ran."""

    tests_by_hook: dict[str, set[str]] = field(default_factory=dict)
    whole_suite: bool = False
    why_not_whole: str = "the run was not collected"

    def record(self, hook: str) -> None:
        current = os.environ.get("PYTEST_CURRENT_TEST")
        if current:
            self.tests_by_hook.setdefault(hook, set()).add(current.rsplit(" ", 1)[0])


CALLS = HookCalls()
_real_register = pluggy.PluginManager.register


def _recording(hook: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        CALLS.record(hook)
        return function(*args, **kwargs)

    return recorded


def _register(self: pluggy.PluginManager, plugin: object, name: str | None = None) -> str | None:
    plugin_name = _real_register(self, plugin, name)
    if plugin_name is None or self.project_name != PROJECT_NAME or plugin_name in DEFAULT_PLUGINS:
        return plugin_name
    for caller in self.get_hookcallers(plugin) or []:
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin:
                # pluggy read the argument names from the original already.
                impl.function = _recording(caller.name, impl.function)
    return plugin_name


def start_recording() -> None:
    pluggy.PluginManager.register = _register  # type: ignore[method-assign]


def stop_recording() -> None:
    pluggy.PluginManager.register = _real_register  # type: ignore[method-assign]
