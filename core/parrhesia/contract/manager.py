"""Building the plugin manager of one app, and calling hooks without losing reports.

Plugins are found through the entry-point group ``parrhesia`` and enabled only when the
instance configuration lists them (``[plugins] enabled = [...]``): installing is not
enabling. A configured plugin that is missing, fails to import, or implements a hook
wrongly stops start-up with one :class:`PluginLoadError` naming it — a silently skipped
plugin would change legal deadlines.

At run time :func:`call_each` calls every implementation of a hook separately, so one
plugin raising loses neither the others' answers nor the report; failures are returned
as :class:`PluginFailure` (plugin, hook, error type: never a message, which could carry
content) for the caller to log and record.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from parrhesia.config import ConfigError
from parrhesia.contract import hookspecs
from parrhesia.contract.hookspecs import PROJECT_NAME

__all__ = [
    "ENTRY_POINT_GROUP",
    "DEFAULT_PLUGINS",
    "PluginLoadError",
    "PluginFailure",
    "PluginInfo",
    "installed_plugins",
    "make_plugin_manager",
    "register",
    "call_each",
    "describe_plugins",
]

ENTRY_POINT_GROUP = "parrhesia"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "parrhesia.contract.defaults.config_bodies",
    "parrhesia.contract.defaults.core_intake",
    "parrhesia.contract.defaults.notify_email",
    "parrhesia.contract.defaults.notify_webhook",
)


class PluginLoadError(ConfigError):
    """A configured plugin could not be loaded; start-up stops."""


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    hook: str
    error: str  # the exception's type name: safe to log and store
    # The exception's message: shown only for start-up errors (no report exists then),
    # never logged or stored at run time, where it could carry content.
    detail: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    hooks: tuple[str, ...]
    enabled: bool
    builtin: bool


def installed_plugins() -> dict[str, EntryPoint]:
    """Plugins installed in this environment, by entry-point name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def make_plugin_manager(enabled: Sequence[str]) -> pluggy.PluginManager:
    """A new plugin manager with the defaults and the enabled plugins registered."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        manager.register(importlib.import_module(module_name), name=module_name)
    available = installed_plugins()
    for name in enabled:
        entry_point = available.get(name)
        if entry_point is None:
            known = ", ".join(sorted(available)) or "none"
            raise PluginLoadError(
                f"plugin {name!r} is enabled in parrhesia.toml but not installed (installed: {known})"
            )
        try:
            plugin = entry_point.load()
        except Exception as exc:  # any import-time failure must name the plugin
            raise PluginLoadError(f"plugin {name!r} failed to load: {type(exc).__name__}: {exc}") from exc
        register(manager, plugin, name)
    return manager


def register(manager: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register one plugin, validated: every hook it implements is a known hook with the
    right arguments, and every function named like a hook is marked ``@hookimpl`` (an
    unmarked one would be silently ignored, and its deadlines or exclusions lost)."""
    unmarked = [
        attribute for attribute in dir(plugin)
        if attribute.startswith(f"{PROJECT_NAME}_") and callable(getattr(plugin, attribute, None))
        and manager.parse_hookimpl_opts(plugin, attribute) is None
    ]
    if unmarked:
        raise PluginLoadError(
            f"plugin {name!r} defines {', '.join(unmarked)} without @hookimpl: pluggy would ignore "
            f"{'it' if len(unmarked) == 1 else 'them'} (mark each with `@hookimpl` from parrhesia.plugin)"
        )
    try:
        manager.register(plugin, name=name)
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"plugin {name!r} is not valid: {exc}") from exc
    except ValueError as exc:
        raise PluginLoadError(f"plugin {name!r} could not be registered: {exc}") from exc


def call_each(
    manager: pluggy.PluginManager, hook_name: str, **kwargs: Any
) -> tuple[list[tuple[str, Any]], list[PluginFailure]]:
    """Call every implementation of a hook on its own, in pluggy's order.

    Returns ``(results, failures)``: ``(plugin name, result)`` for each implementation
    that returned something other than None, and one failure per implementation that
    raised.
    """
    hook = getattr(manager.hook, hook_name)
    results: list[tuple[str, Any]] = []
    failures: list[PluginFailure] = []
    # get_hookimpls() lists implementations in reverse call order.
    for impl in reversed(hook.get_hookimpls()):
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            result = impl.function(**args)
        except Exception as exc:  # a plugin's failure must never lose a report
            failures.append(PluginFailure(impl.plugin_name, hook_name, type(exc).__name__, str(exc)))
            continue
        if result is not None:
            results.append((impl.plugin_name, result))
    return results, failures


def describe_plugins(manager: pluggy.PluginManager | None, enabled: Sequence[str]) -> list[PluginInfo]:
    """Every installed or built-in plugin, with version, whether enabled, and the hooks
    pluggy actually registered for it — validated as start-up validates, so a plugin
    that would not start shows why instead of hooks it does not implement."""
    from importlib.metadata import PackageNotFoundError, version

    infos = []
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        infos.append(PluginInfo(module_name, "built-in", _registered_hooks(manager, module, module_name), True, True))
    for name, entry_point in sorted(installed_plugins().items()):
        try:
            dist_version = entry_point.dist.version if entry_point.dist else version(name)
        except PackageNotFoundError:
            dist_version = "unknown"
        plugin = manager.get_plugin(name) if manager else None
        if plugin is None:
            try:
                plugin = entry_point.load()
            except Exception:  # listing must work even for a broken plugin
                infos.append(PluginInfo(name, dist_version, ("(fails to load)",), name in enabled, False))
                continue
        infos.append(PluginInfo(name, dist_version, _registered_hooks(manager, plugin, name), name in enabled, False))
    return infos


def _registered_hooks(manager: pluggy.PluginManager | None, plugin: object, name: str) -> tuple[str, ...]:
    """The hooks pluggy registered for ``plugin``: from the app's manager if it holds it,
    else from a scratch manager that validates it the way start-up does."""
    if manager is None or manager.get_plugin(name) is None:
        manager = pluggy.PluginManager(PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        try:
            register(manager, plugin, name)
        except PluginLoadError as problem:
            return (f"(invalid: {problem})",)
    callers = manager.get_hookcallers(manager.get_plugin(name)) or []
    return tuple(sorted(caller.name for caller in callers))
