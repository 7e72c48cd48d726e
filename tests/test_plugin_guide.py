"""Meta-tests that keep the plugin contract honest (after Datasette's):

every hook has a docstring, a section in docs/writing-plugins.md, and a test that names
it; and the guide's examples are valid code for commands that exist.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest

import parrhesia.plugin
from parrhesia import hookspecs
from parrhesia.cli import main

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "writing-plugins.md"
HOOK_HEADING = re.compile(r"^### `(parrhesia_\w+)`\s*$", re.MULTILINE)
CODE_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _hookspecs() -> dict[str, object]:
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("parrhesia_")
    }


HOOKS = sorted(_hookspecs())


def _guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def _test_sources() -> dict[Path, str]:
    """Every test module of the repository and of the plugins, but this one."""
    files = [*REPO.glob("tests/**/*.py"), *REPO.glob("plugins/*/tests/**/*.py")]
    here = Path(__file__).resolve()
    return {path: path.read_text(encoding="utf-8") for path in files if path.resolve() != here}


def test_the_contract_has_hooks() -> None:
    assert len(HOOKS) >= 9
    for name, function in _hookspecs().items():
        # Marked with the project's HookspecMarker, so pluggy registers it.
        assert getattr(function, f"{hookspecs.PROJECT_NAME}_spec", None) is not None, name


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docstring(hook: str) -> None:
    doc = inspect.getdoc(_hookspecs()[hook])
    assert doc, f"{hook} has no docstring"
    assert "return" in doc.lower(), f"{hook}'s docstring does not state what it returns"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_in_the_guide(hook: str) -> None:
    assert hook in HOOK_HEADING.findall(_guide()), f"docs/writing-plugins.md has no '### `{hook}`' section"


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    assert sorted(set(HOOK_HEADING.findall(_guide())) - set(HOOKS)) == []


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_tested(hook: str) -> None:
    """A test names each hook (in its name, docstring or code): a new hook needs a test."""
    naming = [path for path, source in _test_sources().items() if re.search(rf"\b{hook}\b", source)]
    assert naming, f"no test in tests/ or plugins/*/tests/ names {hook}"


def test_the_guide_names_everything_a_plugin_imports() -> None:
    guide = _guide()
    missing = [name for name in parrhesia.plugin.__all__ if f"{name}" not in guide]
    assert missing == []


def test_the_guides_python_examples_are_valid_python() -> None:
    blocks = [code for language, code in CODE_BLOCK.findall(_guide()) if language == "python"]
    assert blocks
    for code in blocks:
        compile(code, str(GUIDE), "exec")


def test_the_guides_toml_examples_are_valid_toml() -> None:
    blocks = [code for language, code in CODE_BLOCK.findall(_guide()) if language == "toml"]
    assert blocks
    for code in blocks:
        tomllib.loads(code)


def test_the_commands_in_the_guide_exist() -> None:
    guide = _guide()
    for words in (["plugins", "list"], ["directory"], ["route"]):
        assert f"parrhesia {' '.join(words)} --instance" in guide
        command = main
        for word in words:
            command = command.commands[word]  # type: ignore[attr-defined]
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert "--instance" in options
    assert "--field" in {opt for p in main.commands["route"].params for opt in getattr(p, "opts", [])}
    assert "--field NAME=VALUE" in guide


def test_the_guide_covers_what_an_agency_needs() -> None:
    guide = _guide()
    for topic in (
        "[project.entry-points.parrhesia]",
        "[plugins]\nenabled = [",
        "parrhesia.testing",
        "conflict rule",
        "routing field",
        "content field",
        "last resort",
        "Fault isolation",
        "Never put a secret in plugin settings",
        "environment variable",
    ):
        assert topic in guide, topic
