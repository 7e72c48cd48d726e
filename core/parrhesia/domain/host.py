"""The plugin host of one app: plugins, merged directory, intake and catalogues.

Built once per app by :func:`load_host` (start-up does all validation, so a broken
plugin or an inconsistent directory stops the instance before it takes a report) and
kept in ``app.extensions``; the command line builds one the same way.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
from flask import current_app

from parrhesia.config import ConfigError, InstanceConfig
from parrhesia.contract.directory import Directory, DirectoryContribution, build_directory
from parrhesia.contract.events import Event
from parrhesia.contract.intake import IntakeField, merge_fields
from parrhesia.contract.manager import DEFAULT_PLUGINS, PluginFailure, PluginLoadError, call_each, make_plugin_manager
from parrhesia.contract.protection import ProtectionMeasure
from parrhesia.domain.fallback_clocks import check_default_clocks
from parrhesia.domain.route_memory import RouteMemory
from parrhesia.domain.routing import RouteDecision, RoutingRequest, decide

__all__ = ["PluginHost", "load_host", "current_host"]

log = logging.getLogger(__name__)

# The core statuses of a report; jurisdictions add theirs with parrhesia_statuses.
STATUSES = ("received", "acknowledged", "assessing", "investigating", "referred", "closed")
_STATUS = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


@dataclass(frozen=True)
class PluginHost:
    config: InstanceConfig
    manager: pluggy.PluginManager
    directory: Directory
    intake_fields: tuple[IntakeField, ...]
    measures: tuple[ProtectionMeasure, ...]
    statuses: tuple[str, ...] = STATUSES

    @property
    def routing_fields(self) -> tuple[IntakeField, ...]:
        return tuple(f for f in self.intake_fields if f.routing)

    @property
    def content_fields(self) -> tuple[IntakeField, ...]:
        return tuple(f for f in self.intake_fields if not f.routing)

    def decide(
        self, request: RoutingRequest, readable: Collection[str] | None = None, memory: RouteMemory | None = None
    ) -> RouteDecision:
        """Route a report; ``readable``: the bodies that can read reports here (None:
        unknown); ``memory``: the routing plugins' remembered answers (None: a dry run)."""
        return decide(self.manager, self.directory, self.config, request, readable, memory)

    def translation_directories(self) -> list[Path]:
        """The ``translations`` folders that enabled plugins ship, in registration order.

        A plugin translates its own text (questions, choices, notices) with flask-babel
        catalogues in a ``translations`` folder at the top of its package, laid out as
        the core's are (docs/writing-plugins.md, "Translations"). The core's own
        catalogues are not listed here.
        """
        found: list[Path] = []
        for _name, folder in self._plugin_translation_folders():
            if folder.is_dir() and folder not in found:
                found.append(folder)
        return found

    def untranslated_plugins(self, languages: tuple[str, ...]) -> list[tuple[str, str]]:
        """``(plugin, language)`` for each enabled plugin without a compiled catalogue for
        an instance language other than English: its text shows in English there."""
        missing = []
        for name, folder in self._plugin_translation_folders():
            for language in languages:
                if language != "en" and not (folder / language / "LC_MESSAGES" / "messages.mo").is_file():
                    missing.append((name, language))
        return missing

    def _plugin_translation_folders(self) -> list[tuple[str, Path]]:
        """Each enabled plugin (not the built-in defaults) with its ``translations`` folder."""
        folders = []
        for name, plugin in self.manager.list_name_plugin():
            if name in DEFAULT_PLUGINS:
                continue
            module = plugin if isinstance(plugin, ModuleType) else sys.modules.get(type(plugin).__module__)
            package = sys.modules.get((getattr(module, "__name__", "") or "").partition(".")[0])
            location = getattr(package, "__file__", None)
            if location is not None:
                folders.append((name, Path(location).parent / "translations"))
        return folders

    def emit(self, event: Event) -> list[PluginFailure]:
        """Tell plugins about an event; failures are logged (no content) and returned."""
        _, failures = call_each(self.manager, "parrhesia_event", event=event)
        for failure in failures:
            log.error("plugin %s failed in %s: %s", failure.plugin, failure.hook, failure.error)
        return failures


def load_host(config: InstanceConfig) -> PluginHost:
    """Load and validate the enabled plugins; raise a ConfigError naming the culprit."""
    manager = make_plugin_manager(config.plugins)
    contributions, failures = call_each(manager, "parrhesia_directory", config=config)
    _refuse(failures, "contributing to the directory")
    directory = build_directory(
        (plugin, c if c is not None else DirectoryContribution()) for plugin, c in contributions
    )
    for setting, body_ids in (("instance.route", config.route), ("instance.last_resort", config.last_resort)):
        unknown = [b for b in body_ids if b not in directory]
        if unknown:
            raise ConfigError(f"{setting} names bodies that are not in the directory: {unknown}")
    check_default_clocks(config)
    if not config.last_resort:
        raise ConfigError(
            "No recipient of last resort: set instance.last_resort to one or more body ids "
            "(a report must always reach someone independent)."
        )

    fields, failures = call_each(manager, "parrhesia_intake_fields", directory=directory, config=config)
    _refuse(failures, "defining intake fields")
    intake = _in_form_order(merge_fields(_items(fields, IntakeField, "parrhesia_intake_fields")))

    measures, failures = call_each(manager, "parrhesia_protection_measures", directory=directory, config=config)
    _refuse(failures, "listing protection measures")
    extra, failures = call_each(manager, "parrhesia_statuses", config=config)
    _refuse(failures, "listing statuses")
    statuses = list(STATUSES)
    for status in _items(extra, str, "parrhesia_statuses"):
        if not _STATUS.match(status):
            raise PluginLoadError(f"status {status!r} must be lowercase letters, digits and '-'")
        if status not in statuses:
            statuses.append(status)
    return PluginHost(
        config=config,
        manager=manager,
        directory=directory,
        intake_fields=tuple(intake),
        measures=tuple(_items(measures, ProtectionMeasure, "parrhesia_protection_measures")),
        statuses=tuple(statuses),
    )


def current_host() -> PluginHost:
    host: PluginHost = current_app.extensions["parrhesia.domain.host"]
    return host


def _refuse(failures: list[PluginFailure], doing: str) -> None:
    if failures:
        first = failures[0]
        detail = f": {first.detail}" if first.detail else ""
        raise PluginLoadError(f"plugin {first.plugin!r} failed while {doing}: {first.error}{detail}")


def _items(results: list[tuple[str, object]], kind: type, hook: str) -> list[Any]:
    items: list[Any] = []
    for plugin, value in results:
        if not isinstance(value, list | tuple) or not all(isinstance(v, kind) for v in value):
            raise PluginLoadError(f"plugin {plugin!r}: {hook} must return a list of {kind.__name__}")
        items.extend(value)
    return items


# The core routing questions come first, in this order; plugins' questions follow in
# the order the plugins defined them.
CORE_FIELD_ORDER = ("jurisdiction", "subject", "implicated", "urgency", "exclude")


def _in_form_order(fields: list[IntakeField]) -> list[IntakeField]:
    def position(item: tuple[int, IntakeField]) -> tuple[int, int]:
        index, field = item
        if field.name in CORE_FIELD_ORDER:
            return (0, CORE_FIELD_ORDER.index(field.name))
        return (1, index)

    return [field for _, field in sorted(enumerate(fields), key=position)]
