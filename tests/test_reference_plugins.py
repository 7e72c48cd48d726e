"""The reference plugins together, as `make demo` runs them: the Republic of Example with
EU Directive 2019/1937 deadlines and independent escalation chains.

Each plugin has its own tests in ``plugins/<name>/tests``; these check that the three
distributions are well formed and work together through the real entry points, the
source form and the command line.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from parrhesia.cli import main
from parrhesia.config import load_config
from parrhesia.contract.manager import installed_plugins
from parrhesia.domain.host import PluginHost, load_host
from parrhesia.domain.routing import RouteDecision
from parrhesia.plugin import RoutingRequest
from parrhesia.testing import csrf_token

REPO = Path(__file__).resolve().parents[1]
PLUGINS_DIR = REPO / "plugins"
REFERENCE_PLUGINS = {
    "parrhesia-demo": ("demo", "parrhesia_demo"),
    "parrhesia-eu-directive": ("eu-directive", "parrhesia_eu_directive"),
    "parrhesia-anticorruption": ("anticorruption", "parrhesia_anticorruption"),
}
ENABLED = ["demo", "eu-directive", "anticorruption"]


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    """The test instance of parrhesia.testing with the three reference plugins enabled."""
    return {"plugins": ENABLED, "bodies": [], "instance": {"route": [], "last_resort": ["example-ombudsman"]}}


def decide(host: PluginHost, **fields: str) -> RouteDecision:
    return host.decide(RoutingRequest.from_fields({name: (value,) for name, value in fields.items()}))


# --- the distributions -------------------------------------------------------------


@pytest.mark.parametrize("directory", sorted(REFERENCE_PLUGINS))
def test_each_reference_plugin_is_an_installable_distribution(directory: str) -> None:
    entry_name, module = REFERENCE_PLUGINS[directory]
    root = PLUGINS_DIR / directory
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == directory
    assert "parrhesia" in project["project"]["dependencies"]
    assert project["project"]["entry-points"]["parrhesia"] == {entry_name: module}
    assert (root / module / "__init__.py").is_file()
    assert (root / "README.md").is_file()
    assert list((root / "tests").glob("test_*.py"))
    assert installed_plugins()[entry_name].value == module


def test_every_plugin_directory_is_a_reference_plugin() -> None:
    found = {p.parent.name for p in PLUGINS_DIR.glob("*/pyproject.toml")}
    assert found == set(REFERENCE_PLUGINS)


def test_test_module_names_are_unique_across_the_repository() -> None:
    """pytest imports test modules without __init__.py by their file name."""
    names = Counter(p.name for p in [*REPO.glob("tests/test_*.py"), *PLUGINS_DIR.glob("*/tests/**/test_*.py")])
    assert [name for name, count in names.items() if count > 1] == []


def test_installing_a_plugin_is_not_enabling_it(tmp_path: Path) -> None:
    (tmp_path / "parrhesia.toml").write_text(
        '[instance]\nname = "Plain"\n\n[[bodies]]\nid = "office"\nname = "Office"\n', encoding="utf-8"
    )
    host = load_host(load_config(tmp_path))
    assert "demo" in installed_plugins()
    assert host.manager.get_plugin("demo") is None
    assert "example-interior" not in host.directory
    assert decide(host).clocks == ()


# --- the behaviour the issue asks for ------------------------------------------------


def test_report_implicating_the_ministry_of_the_interior_reaches_the_agency(host: PluginHost) -> None:
    decision = decide(host, jurisdiction="example", implicated="example-interior", subject="police-misconduct")
    assert "example-aca" in decision.route
    excluded = {e.body_id: e.reason for e in decision.excluded}
    for body in ("example-interior", "example-police", "example-government"):
        assert body not in decision.route
        assert body not in [s.body_id for s in decision.escalation]
        assert body in excluded
    assert "overseen by Ministry of the Interior" in excluded["example-police"]
    assert [s.body_id for s in decision.escalation][:3] == [
        "example-ombudsman", "example-audit-office", "example-parliament",
    ]
    assert {c.id for c in decision.clocks} == {"eu-acknowledge", "eu-feedback"}
    assert "eu-public-disclosure" in {n.id for n in decision.notices}
    assert decision.failures == ()


def test_report_implicating_the_agency_reaches_the_ombudsman(host: PluginHost) -> None:
    decision = decide(host, implicated="example-aca", subject="public-procurement")
    assert decision.route == ("example-ombudsman",)
    assert "example-aca" in {e.body_id for e in decision.excluded}
    assert "example-aca" not in [s.body_id for s in decision.escalation]
    assert [s.body_id for s in decision.escalation][0] == "example-audit-office"


def test_a_report_without_a_proposal_reaches_the_recipient_of_last_resort(host: PluginHost) -> None:
    decision = decide(host, subject="other")
    assert decision.route == ("example-ombudsman",)
    assert decision.fallback
    assert {c.id for c in decision.clocks} == {"eu-acknowledge", "eu-feedback"}


def test_a_body_controlled_through_a_subordinate_never_receives_report(host: PluginHost) -> None:
    """The head of government controls the police through the Ministry of the Interior."""
    decision = decide(host, implicated="example-government", urgency="imminent")
    assert "example-police" not in decision.route
    assert "example-police" in {e.body_id for e in decision.excluded}
    assert "example-aca" in decision.route


# --- the source form and the command line -------------------------------------------


def test_the_source_sees_the_republic_and_the_content_questions(client: FlaskClient) -> None:
    page = client.get("/submit").get_data(as_text=True)
    assert "Ministry of the Interior" in page
    assert "Sextortion" in page
    answers = {"csrf_token": csrf_token(page), "jurisdiction": "example", "implicated": "example-interior",
               "subject": "police-misconduct", "urgency": "normal"}
    confirmation = client.post("/submit/review", data=answers)
    text = confirmation.get_data(as_text=True)
    assert confirmation.status_code == 200, text[:500]
    assert "Anti-Corruption Agency" in text  # will read it
    assert "Ombudsman of the Republic" in text  # may receive it on escalation
    assert "overseen by Ministry of the Interior" in text  # will never receive it, and why
    assert "Art 15" in text  # the conditions for public disclosure
    assert "When did it happen?" in text  # a content question, asked on the sending step


def test_plugins_list_shows_the_reference_plugins_enabled(instance_dir: Path) -> None:
    result = CliRunner().invoke(main, ["plugins", "list", "--instance", str(instance_dir)])
    assert result.exit_code == 0, result.output
    lines = {line.split("\t")[0]: line for line in result.output.splitlines()}
    for name in ENABLED:
        assert "\tenabled\t" in lines[name]
    assert "parrhesia_escalation" in lines["anticorruption"]


def test_directory_command_lists_the_republic(instance_dir: Path) -> None:
    result = CliRunner().invoke(main, ["directory", "--instance", str(instance_dir), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    bodies = {b["id"]: b for b in data["bodies"]}
    assert bodies["example-interior"]["parent"] == "example-government"
    assert {"source": "example-interior", "kind": "oversees", "target": "example-police"} in data["relations"]


def test_route_command_dry_runs_a_report(instance_dir: Path) -> None:
    result = CliRunner().invoke(main, [
        "route", "--instance", str(instance_dir), "--json",
        "--field", "implicated=example-interior", "--field", "subject=police-misconduct",
    ])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert "example-aca" in [b["id"] for b in data["route"]]
    assert "example-police" in [b["id"] for b in data["excluded"]]
    assert data["escalation"][0]["id"] == "example-ombudsman"
    assert {c["legal_source"] for c in data["clocks"]} == {
        "Directive 2019/1937 Art 9(1)(b), Art 11(2)(b)", "Directive 2019/1937 Art 9(1)(f), Art 11(2)(d)",
    }


def test_route_command_in_text_shows_each_clocks_duration(instance_dir: Path) -> None:
    result = CliRunner().invoke(main, [
        "route", "--instance", str(instance_dir), "--field", "jurisdiction=example", "--field", "subject=public-procurement",
    ])
    assert result.exit_code == 0, result.output
    assert "eu-acknowledge: " in result.output and "7 days (" in result.output
    assert "3 months (extendable to 6 months)" in result.output
