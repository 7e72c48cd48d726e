"""The plugin contract stays light: plugin authors import it without the core.

``parrhesia.plugin`` (the facade) and ``parrhesia.contract.hookspecs`` load value types only:
no database, no web app, no plugin machinery. Each import is checked in a fresh
interpreter, since this test process has loaded everything already.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import parrhesia.plugin
from parrhesia.contract import hookspecs

REPO = Path(__file__).resolve().parents[1]

# flask and flask_babel are allowed: the directory's conflict reasons are flask-babel
# lazy strings, and plugins mark their own text with them.
FORBIDDEN = (
    "sqlalchemy",
    "parrhesia.storage.models",
    "parrhesia.storage.db",
    "parrhesia.storage.migrate",
    "parrhesia.web.app",
    "parrhesia.web.desk",
    "parrhesia.web.api",
    "parrhesia.web.source",
    "parrhesia.instance",
    "parrhesia.domain.host",
    "parrhesia.contract.manager",
)

PLUGIN_CODE = sorted(
    [*REPO.glob("plugins/*/parrhesia_*/**/*.py"), *REPO.glob("tests/fixture_plugins/*.py")]
)


def _modules_loaded_by(module: str, tmp_path: Path) -> list[str]:
    script = f"import {module}, sys; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.split()


def _forbidden(loaded: list[str]) -> list[str]:
    return [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


@pytest.mark.parametrize("module", ["parrhesia.plugin", "parrhesia.contract.hookspecs"])
def test_importing_the_contract_loads_no_database_or_web_code(module: str, tmp_path: Path) -> None:
    loaded = _modules_loaded_by(module, tmp_path)
    assert module in loaded
    assert _forbidden(loaded) == []


def test_every_name_the_facade_exports_is_importable() -> None:
    names = parrhesia.plugin.__all__
    assert len(names) == len(set(names))
    missing = [name for name in names if not hasattr(parrhesia.plugin, name)]
    assert missing == []


def test_every_hookspec_annotation_resolves_to_a_value_type_hookspecs_imports() -> None:
    for name in dir(hookspecs):
        if name.startswith("parrhesia_"):
            typing.get_type_hints(getattr(hookspecs, name))  # NameError if a type is missing


def _core_types_in(hint: object) -> set[type]:
    found = {hint} if isinstance(hint, type) and hint.__module__.startswith("parrhesia.") else set()
    for arg in typing.get_args(hint):
        found |= _core_types_in(arg)
    return found


def test_every_type_a_hook_takes_or_returns_is_in_the_facade() -> None:
    needed: set[type] = set()
    for name in dir(hookspecs):
        if name.startswith("parrhesia_"):
            for hint in typing.get_type_hints(getattr(hookspecs, name)).values():
                needed |= _core_types_in(hint)
    assert {t.__name__ for t in needed} >= {"RoutingRequest", "Notification", "RetentionRule", "InstanceConfig"}
    exported = {getattr(parrhesia.plugin, name) for name in parrhesia.plugin.__all__}
    assert sorted(t.__name__ for t in needed - exported) == []


@pytest.mark.parametrize("path", PLUGIN_CODE, ids=lambda p: str(p.relative_to(REPO)))
def test_reference_and_fixture_plugins_import_only_the_facade_from_parrhesia(path: Path) -> None:
    imported: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.append(node.module)
        elif isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
    core = [m for m in imported if m == "parrhesia" or m.startswith("parrhesia.")]
    assert [m for m in core if m != "parrhesia.plugin"] == []


def test_the_guard_sees_a_forbidden_module() -> None:
    assert _forbidden(["parrhesia.plugin", "sqlalchemy.orm", "parrhesia.storage.models"]) == ["sqlalchemy.orm", "parrhesia.storage.models"]
    assert _forbidden(["parrhesia.plugin", "parrhesia.contract.hookspecs", "parrhesia.contract.directory"]) == []
