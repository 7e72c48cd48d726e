"""The layers of the package import only downwards (docs/architecture.md).

Each top-level module or package of ``parrhesia`` is a layer; the table says which
layers each may import, at module level or inside a function. A new import that
reaches up (the domain importing the web, the plugin contract importing the domain,
the recipient's machine importing server code) fails here with the line that does it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import parrhesia

PACKAGE = Path(parrhesia.__file__).resolve().parent

_BASE = {"private_files", "offload"}
_SERVER_BASE = _BASE | {"crypto", "config", "storage", "instance"}
ALLOWED: dict[str, set[str]] = {
    "__init__": {"web"},  # `parrhesia.create_app`, imported lazily
    "__version__": set(),
    "private_files": set(),
    "offload": set(),
    "crypto": {"private_files"},
    "config": _BASE | {"crypto"},
    "storage": _BASE | {"crypto", "config"},
    "instance": _BASE | {"crypto", "config", "storage"},
    "upload": _SERVER_BASE,
    # What plugin authors program against: values and hooks, no database or web code.
    "contract": {"config", "plugin"},
    "plugin": {"config", "contract"},
    "domain": _SERVER_BASE | {"upload", "contract", "plugin"},
    "web": _SERVER_BASE | {"upload", "contract", "plugin", "domain", "__version__"},
    # The recipient's machine talks to the server only through its API.
    "recipient": {"crypto", "private_files"},
    "ops": _SERVER_BASE | {"upload", "contract", "plugin", "domain", "web", "recipient", "cli"},
    "cli": _SERVER_BASE | {"upload", "contract", "plugin", "domain", "web", "recipient", "ops", "__version__"},
}
ALLOWED["testing"] = set(ALLOWED) - {"testing", "__init__"}  # the kit builds whole instances


def _imported_layers(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "parrhesia":
                found += [(node.lineno, alias.name) for alias in node.names]
            elif node.module.startswith("parrhesia."):
                found.append((node.lineno, node.module.split(".")[1]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1]) for a in node.names if a.name.startswith("parrhesia.")]
    return found


def layer_violations(package: Path = PACKAGE) -> list[str]:
    violations = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if "versions" in relative.parts or relative.parts[0] == "contract" and "skeleton" in relative.parts:
            continue
        layer = relative.with_suffix("").parts[0]
        allowed = ALLOWED.get(layer)
        if allowed is None:
            violations.append(f"{relative}: the layer {layer!r} is not in tests/test_layers.py's table")
            continue
        for line, target in _imported_layers(ast.parse(path.read_text(encoding="utf-8"))):
            if target != layer and target not in allowed:
                violations.append(f"{relative}:{line}: {layer} imports {target}")
    return violations


def test_every_layer_imports_only_the_layers_below_it() -> None:
    assert layer_violations() == []


def test_an_import_reaching_up_is_found(tmp_path: Path) -> None:
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "rule.py").write_text("def f():\n    from parrhesia.web.app import create_app\n")
    (tmp_path / "contract").mkdir()
    (tmp_path / "contract" / "hooks.py").write_text("from parrhesia.domain import reports\n")
    (tmp_path / "recipient").mkdir()
    (tmp_path / "recipient" / "client.py").write_text("from parrhesia import storage\n")
    assert layer_violations(tmp_path) == [
        "contract/hooks.py:1: contract imports domain",
        "domain/rule.py:2: domain imports web",
        "recipient/client.py:1: recipient imports storage",
    ]
