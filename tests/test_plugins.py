"""The plugin manager, the directory, the conflict rule and fault isolation."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from plugin_fixtures import fixture_entry_points  # noqa: F401 - autouse fixture
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.config import ConfigError
from parrhesia.contract.directory import Body, DirectoryContribution, DirectoryError, Relation, build_directory
from parrhesia.contract.events import EventName
from parrhesia.contract.intake import Choice, IntakeError, IntakeField, merge_fields
from parrhesia.contract.manager import PluginLoadError, make_plugin_manager
from parrhesia.domain.host import current_host, load_host
from parrhesia.domain.routing import RoutingRequest
from parrhesia.storage.models import PluginError, Report, ReportClock, ReportField
from parrhesia.testing import add_test_recipient, review_route, submit_report

TESTLAND = {
    "plugins": ["testland"],
    "bodies": [{"id": "last-resort", "name": "Commissioner of Last Resort", "kind": "ombudsman"}],
    "instance": {"route": [], "last_resort": ["last-resort"]},
}


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return TESTLAND


def _write_config(tmp_path: Path, plugins: list[str]) -> Path:
    from parrhesia.instance import init_instance

    init_instance(tmp_path / "i", bodies=TESTLAND["bodies"], plugins=plugins, settings=TESTLAND["instance"]).dispose()
    return tmp_path / "i"


# --- loading -----------------------------------------------------------------


def test_installed_plugin_is_not_enabled_until_configured() -> None:
    manager = make_plugin_manager([])
    assert manager.get_plugin("testland") is None
    assert make_plugin_manager(["testland"]).get_plugin("testland") is not None


def test_plugin_manager_is_built_per_app(app: Flask, tmp_path: Path) -> None:
    other = make_plugin_manager([])
    assert other is not current_host.__globals__.get("manager")
    with app.app_context():
        assert current_host().manager.get_plugin("testland") is not None
    assert other.get_plugin("testland") is None


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        ("not-installed", "plugin 'not-installed' is enabled in parrhesia.toml but not installed"),
        ("import-error", "plugin 'import-error' failed to load: ImportError: a dependency of this plugin is missing"),
        ("bad-hook", "plugin 'bad-hook' is not valid"),
        ("unmarked-hook", "plugin 'unmarked-hook' defines parrhesia_clocks without @hookimpl"),
        ("misspelled-hook", "plugin 'misspelled-hook' is not valid: unknown hook 'parrhesia_clock'"),
    ],
)
def test_configured_plugin_that_fails_stops_start_up_with_one_clear_error(
    tmp_path: Path, plugin: str, message: str
) -> None:
    from parrhesia.web.app import create_app

    folder = _write_config(tmp_path, ["testland", plugin])
    with pytest.raises(PluginLoadError, match=message):
        create_app(folder)


def test_plugins_list_shows_name_version_hooks_and_enabled(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from parrhesia.cli import main

    folder = _write_config(tmp_path, ["testland"])
    result = CliRunner().invoke(main, ["plugins", "list", "--instance", str(folder)])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("testland"))
    assert "enabled" in line and "parrhesia_route" in line
    raising = next(line for line in result.output.splitlines() if line.startswith("raising"))
    assert "disabled" in raising
    assert any(line.startswith("parrhesia.contract.defaults.core_intake") for line in result.output.splitlines())


# --- the directory ----------------------------------------------------------------


def _body(body_id: str, parent: str | None = None, kind: str = "ministry") -> Body:
    return Body(body_id, body_id.title(), kind, "x", parent=parent)


def test_directory_refuses_duplicate_ids_naming_both_plugins() -> None:
    with pytest.raises(DirectoryError, match="'a' is defined twice \\(by 'one' and 'two'\\)"):
        build_directory([("one", DirectoryContribution((_body("a"),))), ("two", DirectoryContribution((_body("a"),)))])


def test_directory_refuses_dangling_parent_and_relation() -> None:
    with pytest.raises(DirectoryError, match="unknown parent 'ghost'"):
        build_directory([("p", DirectoryContribution((_body("a", parent="ghost"),)))])
    with pytest.raises(DirectoryError, match="unknown body 'ghost'"):
        build_directory([("p", DirectoryContribution((_body("a"),), (Relation("a", "funds", "ghost"),)))])


def test_directory_refuses_a_cycle_in_the_chain_of_command() -> None:
    bodies = (_body("a", parent="c"), _body("b", parent="a"), _body("c", parent="b"))
    with pytest.raises(DirectoryError, match="cycle"):
        build_directory([("p", DirectoryContribution(bodies))])


def test_directory_refuses_unknown_kinds() -> None:
    with pytest.raises(DirectoryError, match="unknown kind 'castle'"):
        _body("a", kind="castle")
    with pytest.raises(DirectoryError, match="unknown kind"):
        Relation("a", "owns", "b")


def test_start_up_refuses_route_or_last_resort_outside_the_directory(tmp_path: Path) -> None:
    from parrhesia.config import load_config
    from parrhesia.instance import init_instance

    init_instance(tmp_path / "i", bodies=TESTLAND["bodies"], settings={"route": ["nobody"]}).dispose()
    with pytest.raises(ConfigError, match="instance.route names bodies that are not in the directory"):
        load_host(load_config(tmp_path / "i"))
    init_instance(tmp_path / "j", bodies=[], settings={"last_resort": []}).dispose()
    with pytest.raises(ConfigError, match="No recipient of last resort"):
        load_host(load_config(tmp_path / "j"))


# --- intake -------------------------------------------------------------------


def test_intake_fields_merge_by_name_with_choices_united() -> None:
    a = IntakeField("subject", "Subject", "choice", routing=True, choices=(Choice("x", "X"),))
    b = IntakeField("subject", "Other label", "choice", routing=True, choices=(Choice("y", "Y"), Choice("x", "X2")))
    (merged,) = merge_fields([a, b])
    assert merged.label == "Subject"
    assert [c.value for c in merged.choices] == ["x", "y"]


def test_free_text_can_never_be_a_routing_field() -> None:
    with pytest.raises(IntakeError, match="must be a choice"):
        IntakeField("name", "Your name", "text", routing=True)


# --- the core conflict rule and routing -------------------------------------------------


def _decide(app: Flask, **fields: Any) -> Any:
    with app.app_context():
        host = current_host()
        answers = {k: tuple(v) if isinstance(v, list) else (v,) for k, v in fields.items()}
        return host.decide(RoutingRequest.from_fields(answers))


def test_implicated_ministry_never_receives_report_nor_the_police_it_oversees(app: Flask) -> None:
    decision = _decide(app, implicated="t-interior", subject="police")
    assert decision.route == ("t-aca",)
    excluded = {e.body_id: e.reason for e in decision.excluded}
    assert "implicated" in excluded["t-interior"]
    assert "above" in excluded["t-gov"]
    assert "overseen" in excluded["t-police"]
    assert excluded["t-police-north"] == "it is below Police in its chain of command, which Ministry of the Interior controls"
    assert excluded["t-audit"] == "the audit office declared a conflict"  # from the plugin's conflicts hook


def test_escalation_chain_is_ordered_by_rank_and_skips_route_and_conflicts(app: Flask) -> None:
    decision = _decide(app, implicated="t-gov")
    # t-aca is on the route, t-audit is funded by t-gov; the last resort closes the chain.
    assert [s.body_id for s in decision.escalation] == ["t-ombuds", "last-resort"]
    decision = _decide(app)
    assert [s.body_id for s in decision.escalation] == ["t-ombuds", "t-audit", "last-resort"]


def test_clocks_and_notices_come_with_the_decision(app: Flask) -> None:
    decision = _decide(app)
    assert [(c.id, c.days, c.legal_source) for c in decision.clocks] == [
        ("acknowledge", 7, "Test Act s.1"), ("reflection", 30, "Test Act s.4")]
    assert [n.id for n in decision.notices] == ["rights"]


def test_source_can_exclude_further_bodies(app: Flask) -> None:
    decision = _decide(app, exclude=["t-aca"])
    assert "t-aca" not in decision.route
    assert decision.route == ("last-resort",)  # nothing independent left: the last resort
    assert decision.fallback


def test_route_is_never_empty_the_last_resort_receives_it(app: Flask) -> None:
    decision = _decide(app, implicated="t-aca")
    assert decision.route == ("last-resort",)
    assert decision.fallback


# --- fault isolation ----------------------------------------------------------


@pytest.fixture
def raising_app(tmp_path: Path, database_url: str) -> Flask:
    from parrhesia.instance import init_instance
    from parrhesia.web.app import create_app

    init_instance(
        tmp_path / "r", bodies=TESTLAND["bodies"], plugins=["testland", "raising"],
        settings=TESTLAND["instance"], database_url=database_url,
    ).dispose()
    application = create_app(tmp_path / "r", {"TESTING": True})
    # Readers holding the body keys of the working plugin's body and of the last resort.
    for body_id in ("t-aca", "last-resort"):
        add_test_recipient(application, body_id, "Standing reader")
    return application


def test_a_plugin_that_raises_never_loses_a_report(raising_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    from raising_plugin import CANARY  # type: ignore[import-not-found]

    caplog.set_level(logging.INFO)
    response, codename = submit_report(raising_app.test_client(), "the report must land", subject="police")
    assert response.status_code == 200 and codename
    with Session(raising_app.extensions["parrhesia.instance"].engine) as db:
        report = db.scalars(select(Report)).one()
        route = [b.body_id for b in report.bodies if b.role == "route"]
        # The working plugin's proposal and the last resort: someone independent reads it.
        assert "t-aca" in route and "last-resort" in route
        assert report.fallback_route
        errors = {(e.plugin, e.hook, e.error) for e in db.scalars(select(PluginError))}
    assert ("raising", "parrhesia_route", "RuntimeError") in errors
    assert ("raising", "parrhesia_clocks", "KeyError") in errors
    assert ("raising", "parrhesia_event", "RuntimeError") in errors
    assert "raising" in caplog.text and "parrhesia_route" in caplog.text
    assert CANARY not in caplog.text  # the error is logged without its message
    assert "the report must land" not in caplog.text


# --- storage and the confirmation step ---------------------------------------------


def test_confirmation_step_shows_who_will_and_will_not_read_it(client: FlaskClient, app: Flask) -> None:
    recipient = add_test_recipient(app, "t-aca")
    page = review_route(client, implicated="t-interior", subject="police").get_data(as_text=True)
    readers = page.split("These may receive it on escalation")[0]
    assert "Anti-Corruption Agency" in readers
    assert "Ministry of the Interior" not in readers.split("Who will be able to read your report")[1]
    from parrhesia.crypto import fingerprint

    assert fingerprint(bytes(recipient.key.public_key)) in page
    assert "Ombudsman" in page.split("These may receive it on escalation")[1].split("These will never receive it")[0]
    never = page.split("These will never receive it")[1]
    assert "Police" in never and "overseen by Ministry of the Interior" in never
    assert "Acknowledge receipt" in page and "Test Act s.1" in page
    assert "Your rights" in page
    assert "The server sees your answers" in client.get("/submit").get_data(as_text=True)


def test_invalid_routing_answer_gets_a_clear_error(client: FlaskClient) -> None:
    response = review_route(client, implicated="no-such-body")
    assert response.status_code == 400
    assert "Please check your answer to" in response.get_data(as_text=True)


def test_route_exclusions_clocks_and_fields_are_stored_with_the_report(app: Flask, client: FlaskClient) -> None:
    add_test_recipient(app, "t-aca")  # the body key is held there, so the report can be routed to it
    response, codename = submit_report(client, "about the police", answers={"when": "last spring"}, implicated="t-interior", subject="police")
    assert response.status_code == 200 and codename
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        report = db.scalars(select(Report)).one()
        roles = {(b.role, b.body_id) for b in report.bodies}
        assert ("route", "t-aca") in roles and ("excluded", "t-police") in roles and ("escalation", "t-ombuds") in roles
        fields = {(f.name, f.value) for f in db.scalars(select(ReportField))}
        assert fields == {("implicated", "t-interior"), ("subject", "police")}
        clock = db.scalars(select(ReportClock).where(ReportClock.clock_id == "acknowledge")).one()
        assert (clock.due_on - report.created_on).days == 7
        assert "last spring" not in str([(f.name, f.value) for f in db.scalars(select(ReportField))])
        kinds = [p.kind for p in report.parts]
        assert kinds == ["answers", "message"] or sorted(kinds) == ["answers", "message"]
    page = client.get("/report").get_data(as_text=True)
    assert "Anti-Corruption Agency" in page and "overseen by Ministry of the Interior" in page


def test_escalation_bodies_hold_a_sealed_key_but_their_recipients_no_access(app: Flask, client: FlaskClient) -> None:
    from parrhesia.domain import custody
    from parrhesia.storage.models import SealedKey

    ombudsman = add_test_recipient(app, "t-ombuds")
    aca = add_test_recipient(app, "t-aca")
    submit_report(client, "x", implicated="t-interior")
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        report = db.scalars(select(Report)).one()
        report_id = report.id
        # Sealed to the bodies' keys (route and escalation chain), never to a person's own key.
        assert {"t-aca", "t-ombuds"} <= custody.holding_bodies(db, report)
        assert not [k for k in db.scalars(select(SealedKey)) if k.holder == "recipient"]
    assert client.get("/api/v1/reports", headers=ombudsman.headers).json == {"reports": []}
    assert client.get(f"/api/v1/reports/{report_id}", headers=ombudsman.headers).status_code in (403, 404)
    assert len(client.get("/api/v1/reports", headers=aca.headers).json["reports"]) == 1
    aca.report_key(client, report_id)  # the route's member opens it through the body key


def test_events_carry_no_content(app: Flask, client: FlaskClient) -> None:
    import extra_bodies_plugin  # type: ignore[import-not-found]

    extra_bodies_plugin.EVENTS.clear()
    submit_report(client, "secret words", subject="police")
    names = [e.name for e in extra_bodies_plugin.EVENTS]
    assert names[:2] == [EventName.REPORT_RECEIVED, EventName.REPORT_ROUTED]
    for event in extra_bodies_plugin.EVENTS:
        assert "secret words" not in repr(event)
        assert set(vars(event)) == {"name", "report_id", "body_ids"}




# --- the operators' commands ------------------------------------------------------


def test_directory_command_prints_bodies_and_relations_as_json(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from parrhesia.cli import main

    folder = _write_config(tmp_path, ["testland"])
    result = CliRunner().invoke(main, ["directory", "--instance", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    interior = next(b for b in data["bodies"] if b["id"] == "t-interior")
    assert interior == {"id": "t-interior", "name": "Ministry of the Interior", "kind": "ministry",
                        "jurisdiction": "testland", "parent": "t-gov"}
    assert {"source": "t-interior", "kind": "oversees", "target": "t-police"} in data["relations"]
    tree = CliRunner().invoke(main, ["directory", "--instance", str(folder)])
    assert "  t-interior  Ministry of the Interior" in tree.output


def test_route_command_dry_runs_routing(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from parrhesia.cli import main

    folder = _write_config(tmp_path, ["testland"])
    result = CliRunner().invoke(
        main, ["route", "--instance", str(folder), "--field", "implicated=t-interior", "--field", "subject=police", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [b["id"] for b in data["route"]] == ["t-aca"]
    assert {"t-interior", "t-police", "t-gov"} <= {b["id"] for b in data["excluded"]}
    assert all(b["reason"] for b in data["excluded"])
    assert [b["id"] for b in data["escalation"]] == ["t-ombuds", "last-resort"]
    text = CliRunner().invoke(main, ["route", "--instance", str(folder), "--field", "implicated=t-interior"])
    assert "route:" in text.output and "excluded:" in text.output and "escalation:" in text.output
    bad = CliRunner().invoke(main, ["route", "--instance", str(folder), "--field", "implicated=nobody"])
    assert bad.exit_code != 0 and "invalid answer" in bad.output
    unknown = CliRunner().invoke(main, ["route", "--instance", str(folder), "--field", "colour=red"])
    assert unknown.exit_code != 0 and "not routing fields" in unknown.output


def test_plugin_errors_command_lists_failures_without_content(raising_app: Flask, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from parrhesia.cli import main

    submit_report(raising_app.test_client(), "the report must land")
    folder = raising_app.extensions["parrhesia.instance"].config.path
    result = CliRunner().invoke(main, ["plugins", "errors", "--instance", str(folder)])
    assert result.exit_code == 0, result.output
    assert "raising\tparrhesia_route\tRuntimeError" in result.output
    assert "the report must land" not in result.output and "canary" not in result.output


def test_bodies_controlled_through_a_subordinate_are_in_conflict_too(app: Flask) -> None:
    decision = _decide(app, implicated="t-gov")
    excluded = {e.body_id: e.reason for e in decision.excluded}
    assert excluded["t-interior"] == "it is below Government in its chain of command"
    assert excluded["t-police"] == "it is overseen by Ministry of the Interior, which Government controls"
    assert excluded["t-audit"] == "it is funded by Government"
    assert "t-police" not in decision.route and "t-police-north" in excluded


def test_parrhesia_statuses_adds_a_jurisdiction_status_recipients_can_set(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        assert current_host().statuses[-1] == "hearing-scheduled"
        assert current_host().statuses[:6] == ("received", "acknowledged", "assessing", "investigating", "referred", "closed")
    officer = add_test_recipient(app, "t-aca")
    submit_report(client, "x", subject="police")
    (report,) = client.get("/api/v1/reports", headers=officer.headers).json["reports"]
    ok = client.post(f"/api/v1/reports/{report['id']}/status", json={"status": "hearing-scheduled"}, headers=officer.headers)
    assert ok.status_code == 200 and ok.json["status"] == "hearing-scheduled"
    bad = client.post(f"/api/v1/reports/{report['id']}/status", json={"status": "buried"}, headers=officer.headers)
    assert bad.status_code == 400


def test_a_pausable_clock_stops_and_restarts_with_the_pause_added(app: Flask, client: FlaskClient) -> None:
    from datetime import timedelta

    from parrhesia.domain import casework
    from parrhesia.domain.clock_engine import tick
    from parrhesia.storage.models import Recipient

    officer = add_test_recipient(app, "t-aca")
    submit_report(client, "x", subject="police")
    engine = app.extensions["parrhesia.instance"].engine
    host = app.extensions["parrhesia.domain.host"]
    with Session(engine) as db:
        recipient = db.get(Recipient, officer.id)
        report = db.scalars(select(Report)).one()
        report_id, start = report.id, report.created_on
        with pytest.raises(casework.CaseworkError, match="does not allow"):
            casework.pause_clock(db, recipient, report, "acknowledge", "reflection", on=start)
        casework.pause_clock(db, recipient, report, "reflection", "the source asked for time to reflect", on=start)
        tick(host, db, on=start + timedelta(days=40))  # paused: never missed
        clock = db.scalars(select(ReportClock).where(ReportClock.clock_id == "reflection")).one()
        assert clock.state == "paused"
        casework.resume_clock(db, recipient, report, "reflection", on=start + timedelta(days=10))
        assert clock.state == "running" and clock.due_on == start + timedelta(days=40)
    response = client.post(f"/api/v1/reports/{report_id}/clocks/reflection/pause", json={"reason": "again"},
                           headers=officer.headers)
    assert response.status_code == 200
    assert {c["id"]: c["state"] for c in response.json["clocks"]}["reflection"] == "paused"


def test_deadlines_are_counted_in_the_jurisdictions_time_zone(tmp_path: Path) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from parrhesia.config import load_config
    from parrhesia.instance import init_instance

    init_instance(tmp_path / "tz", bodies=TESTLAND["bodies"], plugins=["testland"],
                  settings={**TESTLAND["instance"], "timezone": "Pacific/Pago_Pago"}).dispose()
    config_file = tmp_path / "tz" / "parrhesia.toml"
    config_file.write_text(config_file.read_text() + '\n[timezones]\ntestland = "Pacific/Kiritimati"\n')
    config = load_config(tmp_path / "tz")
    assert config.today("testland") == datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    assert config.today("elsewhere") == config.today() == datetime.now(ZoneInfo("Pacific/Pago_Pago")).date()
    config_file.write_text(config_file.read_text().replace("Pacific/Kiritimati", "Atlantis/Capital"))
    with pytest.raises(ConfigError, match="timezones.testland"):
        load_config(tmp_path / "tz")


def test_a_failing_conflicts_hook_fails_closed(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    import extra_bodies_plugin  # type: ignore[import-not-found]

    from parrhesia.plugin import hookimpl

    @hookimpl
    def broken(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("conflict data unavailable")

    monkeypatch.setattr(extra_bodies_plugin, "parrhesia_conflicts", broken)
    with app.app_context():
        host = current_host()
        host.manager.unregister(name="testland")
        host.manager.register(extra_bodies_plugin, name="testland")
        decision = host.decide(RoutingRequest.from_fields({"subject": ("police",)}))
    # Only the recipient of last resort: nobody the plugin might have excluded gets a key.
    assert decision.route == ("last-resort",) and decision.fallback
    assert decision.escalation == ()
    assert ("testland", "parrhesia_conflicts", "RuntimeError") in {(f.plugin, f.hook, f.error) for f in decision.failures}


def test_exclusion_reasons_are_stored_in_english_and_shown_in_the_sources_language(
    app: Flask, client: FlaskClient
) -> None:
    client.get("/?lang=fr")
    response, codename = submit_report(client, "x", implicated="t-interior", exclude=["t-ombuds"])
    assert response.status_code == 200 and codename
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        stored = {b.body_id: b.reason for b in db.scalars(select(Report)).one().bodies if b.role == "excluded"}
    assert stored["t-police"] == "it is overseen by Ministry of the Interior"
    assert stored["t-ombuds"] == "you asked that it not receive this report"
    page = client.get("/report").get_data(as_text=True)
    assert "placé sous la tutelle de Ministry of the Interior" in page
    assert "vous avez demandé qu&#39;il ne reçoive pas ce signalement" in page or "vous avez demandé qu'il ne reçoive pas" in page


def test_plugins_list_shows_only_what_pluggy_registered(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from parrhesia.cli import main

    folder = _write_config(tmp_path, ["testland"])
    listed = CliRunner().invoke(main, ["plugins", "list", "--instance", str(folder)])
    assert listed.exit_code == 0, listed.output
    lines = {line.split()[0]: line for line in listed.output.splitlines() if line.strip()}
    # Neither is listed as implementing anything: each shows why it would not start.
    for name, why in (("unmarked-hook", "without @hookimpl"), ("misspelled-hook", "unknown hook")):
        assert "(invalid:" in lines[name] and why in lines[name] and "parrhesia_route" not in lines[name], lines[name]
    assert "parrhesia_directory" in lines["testland"]
