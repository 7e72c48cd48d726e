"""Registering the test plugins in tests/fixture_plugins as real entry points."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

FIXTURE_PLUGINS = {
    "testland": "extra_bodies_plugin",
    "raising": "raising_plugin",
    "import-error": "import_error_plugin",
    "bad-hook": "bad_hook_plugin",
    "records-law": "retention_plugin",
    "broken-records": "broken_retention_plugin",
    "outbox": "outbox_plugin",
    "unmarked-hook": "unmarked_hook_plugin",
    "misspelled-hook": "misspelled_hook_plugin",
    "flaky-clocks": "flaky_clocks_plugin",
    "flaky-route": "flaky_route_plugin",
}


@pytest.fixture(autouse=True)
def fixture_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the fixture plugins installed (not enabled) for this test, via EntryPoint.load()."""
    import parrhesia.contract.manager as plugin_manager

    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fixture_plugins"))
    real = plugin_manager.installed_plugins

    def installed() -> dict[str, EntryPoint]:
        found = real()
        for name, module in FIXTURE_PLUGINS.items():
            found[name] = EntryPoint(name=name, value=module, group=plugin_manager.ENTRY_POINT_GROUP)
        return found

    monkeypatch.setattr(plugin_manager, "installed_plugins", installed)
