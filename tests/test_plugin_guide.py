"""Meta-tests that keep the plugin contract honest (after Datasette's):

every hook has a docstring, a section in docs/writing-plugins.md, and a test that makes
the core call it on a real plugin; and the guide's examples are valid code for commands
that exist.
"""

from __future__ import annotations

import inspect
import re
import subprocess  # nosec B404
import sys
import tomllib
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hook_recording import HookCalls
from sqlalchemy import select
from sqlalchemy.orm import Session

import parrhesia.plugin
from parrhesia.cli import main
from parrhesia.config import ConfigError
from parrhesia.contract import hookspecs
from parrhesia.contract.directory import BodyKind, RelationKind
from parrhesia.domain.host import PluginHost
from parrhesia.storage.models import ReportClock
from parrhesia.testing import InstanceRunner, decide, make_host, submit_report, tick_at

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
    guide = _guide()
    assert hook in HOOK_HEADING.findall(guide), f"docs/writing-plugins.md has no '### `{hook}`' section"
    section = re.split(r"^#{1,3} ", guide.split(f"### `{hook}`", 1)[1], flags=re.MULTILINE)[0]
    assert "return" in section.lower(), f"the guide's section on {hook} does not say what it returns"


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    assert sorted(set(HOOK_HEADING.findall(_guide())) - set(HOOKS)) == []


@pytest.mark.after_every_test
@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_called_by_a_test_through_a_plugin(hook: str, hook_calls: HookCalls) -> None:
    """Some test must make the core call each hook on a plugin that is not a built-in
    default (tests/fixture_plugins, a reference plugin, or one a test registers), so a
    hook nothing exercises fails here. Recorded by tests/conftest.py; judged after
    every other test of a run that selected the whole suite."""
    if not hook_calls.whole_suite:
        pytest.skip(f"judges the whole suite only: {hook_calls.why_not_whole}")
    if not hook_calls.tests_by_hook.get(hook):
        pytest.fail(f"no test made the core call {hook} on a plugin: add a fixture plugin implementing it "
                    "(tests/fixture_plugins, loaded as an entry point) and a test whose outcome depends on it")


def test_the_guide_names_everything_a_plugin_imports() -> None:
    guide = _guide()
    missing = [name for name in parrhesia.plugin.__all__ if f"{name}" not in guide]
    assert missing == []


def _python_blocks() -> list[tuple[int, str]]:
    """The guide's Python code blocks, with the line each starts on."""
    guide = _guide()
    return [(guide[: m.start()].count("\n") + 2, m.group(2)) for m in CODE_BLOCK.finditer(guide) if m.group(1) == "python"]


def test_the_guide_has_python_examples() -> None:
    assert len(_python_blocks()) >= 15


@pytest.mark.parametrize("line, code", _python_blocks(), ids=[f"line-{line}" for line, _ in _python_blocks()])
def test_the_guides_python_examples_run(line: int, code: str) -> None:
    """Each block runs on its own, after the imports it declares: a wrong name, import or
    constructor fails here. Names used only inside functions are checked by ruff."""
    exec(compile(code, f"{GUIDE}:{line}", "exec"), {"__name__": f"guide_line_{line}"})  # nosec B102 - our own guide
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():
        run = subprocess.run(  # nosec B603
            [str(ruff), "check", "--isolated", "--select", "F821,F822,F823", "--output-format", "concise",
             "--stdin-filename", f"guide_line_{line}.py", "-"],
            input=code, capture_output=True, text=True, check=False,
        )
        assert run.returncode == 0, f"docs/writing-plugins.md, block at line {line}:\n{run.stdout}"


def _kinds(enum: type[StrEnum]) -> str:
    return ", ".join(f'`{member.name}` (`"{member.value}"`)' for member in enum)


def test_the_guide_lists_every_kind_of_body_and_relation() -> None:
    guide = _guide()
    for enum in (BodyKind, RelationKind):
        line = f"- `{enum.__name__}`: {_kinds(enum)}\n"
        assert line in guide, f"docs/writing-plugins.md should list the {enum.__name__} members as:\n{line}"


def test_the_guides_fault_isolation_table_names_every_hook() -> None:
    section = _guide().split("## 10. Fault isolation", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(parrhesia_\w+)` \|", section, re.MULTILINE)
    assert sorted(rows) == HOOKS


def test_the_guide_names_every_helper_of_the_kit() -> None:
    import parrhesia.testing as kit

    guide = _guide()
    assert [name for name in kit.__all__ if name not in guide] == []
    for fixture in ("instance_settings", "app", "client", "host", "directory", "db", "runner", "recipient",
                    "submitted_report"):
        assert f"`{fixture}`" in guide, fixture


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


# The kit of parrhesia.testing the guide promises (section 8), and its promise of brevity.

THREE_LINES = REPO / "plugins" / "parrhesia-demo" / "tests" / "test_three_lines.py"


def test_a_jurisdictions_three_tests_fit_in_under_twenty_lines() -> None:
    source = THREE_LINES.read_text(encoding="utf-8")
    assert len(source.splitlines()) < 20, f"{THREE_LINES.name} grew past 20 lines"
    assert len(re.findall(r"^def test_", source, re.MULTILINE)) == 3


def test_every_public_function_of_the_kit_is_annotated() -> None:
    import parrhesia.testing as kit

    for name, function in inspect.getmembers(kit, inspect.isfunction):
        if function.__module__ != kit.__name__ or name.startswith("_"):
            continue
        signature = inspect.signature(function)
        unannotated = [p for p in signature.parameters.values() if p.annotation is inspect.Parameter.empty]
        assert not unannotated, f"parrhesia.testing.{name}: {[p.name for p in unannotated]} not annotated"
        assert signature.return_annotation is not inspect.Signature.empty, f"parrhesia.testing.{name} returns ?"


class TestTheKit:
    @pytest.fixture
    def instance_settings(self) -> dict[str, Any]:
        return {"plugins": ["demo", "eu-directive"], "instance": {"route": [], "last_resort": ["example-ombudsman"]}}

    def test_decide_on_an_app_routes_only_to_bodies_that_can_read(self, app: Flask) -> None:
        decision = decide(app, subject="public-procurement")
        assert decision.route == ("example-ombudsman",)
        assert decision.waiting == ("example-aca",)

    def test_decide_refuses_a_mistyped_answer(self, host: PluginHost) -> None:
        with pytest.raises(AssertionError, match="invalid routing answer"):
            decide(host, implicated="example-interiour")
        with pytest.raises(AssertionError, match="not routing fields"):
            decide(host, implicate="example-interior")

    def test_runner_adds_the_instance(self, runner: InstanceRunner) -> None:
        result = runner.invoke("route", "--field", "implicated=example-interior")
        assert result.exit_code == 0, result.output
        assert "example-aca" in result.output.split("excluded:")[0]

    def test_tick_at_a_day_past_the_deadline_misses_it(self, app: Flask, client: FlaskClient, db: Session) -> None:
        _, codename = submit_report(client, "The tender was rigged.", subject="public-procurement")
        assert codename
        due = db.scalars(select(ReportClock).where(ReportClock.clock_id == "eu-acknowledge")).one().due_on
        db.rollback()  # the app writes next
        assert tick_at(app, due).missed == []
        result = tick_at(app, due + timedelta(days=1))
        assert [clock for _, clock in result.missed] == ["eu-acknowledge"]
        assert len(result.escalated) == 1

    def test_make_host_without_a_last_resort_stops_as_an_instance_would(self) -> None:
        with pytest.raises(ConfigError, match="last resort"):
            make_host(plugins=["demo"])
