"""Recording which hooks the test session really calls, for the "every hook is tested"
meta-test in test_plugin_guide.py.

Every implementation registered on a Parrhesia plugin manager by a plugin that is not a
built-in default (a fixture plugin of tests/fixture_plugins, a reference plugin, a
plugin class a test registers) is wrapped so that calling it records the hook and the
running test. The wrapper sits on the implementation itself, so it sees both ways the
core calls hooks: ``call_each`` and pluggy's own hook calling.

The meta-test is marked ``after_every_test``: it is moved to the end of the run, and it
only judges a run that selected the whole suite (otherwise it is skipped, saying why).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hook_recording import CALLS, HookCalls, start_recording, stop_recording

REPO = Path(__file__).resolve().parents[1]
AFTER_EVERY_TEST = "after_every_test"
_DESELECTED = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{AFTER_EVERY_TEST}: runs after every other test (judges what the whole session did)"
    )
    start_recording()


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_recording()


def _test_modules() -> set[Path]:
    return {*REPO.glob("tests/test_*.py"), *REPO.glob("plugins/*/tests/test_*.py")}


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    yield  # after every other plugin has selected, deselected and reordered
    last = [item for item in items if item.get_closest_marker(AFTER_EVERY_TEST)]
    items[:] = [item for item in items if not item.get_closest_marker(AFTER_EVERY_TEST)] + last
    selected = {Path(str(item.path)).resolve() for item in items}
    missing = sorted(str(p.relative_to(REPO)) for p in _test_modules() if p.resolve() not in selected)
    deselected = config.stash.get(_DESELECTED, 0)
    CALLS.whole_suite = not missing and not deselected
    if missing:
        CALLS.why_not_whole = f"this run does not include {', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}"
    elif deselected:
        CALLS.why_not_whole = f"this run deselected {deselected} test(s)"
    return None


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        config = items[0].config
        config.stash[_DESELECTED] = config.stash.get(_DESELECTED, 0) + len(items)


@pytest.fixture
def hook_calls() -> HookCalls:
    """What the session recorded so far (complete only in an ``after_every_test`` test)."""
    return CALLS
