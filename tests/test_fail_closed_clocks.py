"""A jurisdiction's clocks plugin that fails never leaves a report without deadlines."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner
from flask import Flask
from plugin_fixtures import fixture_entry_points  # noqa: F401 - autouse fixture: the fixture plugins are installed
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.storage.models import AuditEntry, Report
from parrhesia.testing import submit_report


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return {"plugins": ["flaky-clocks"], "plugin_settings": {"flaky-clocks": {"broken": True}}}


def _clocks(app: Flask) -> dict[str, Any]:
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        report = db.scalars(select(Report)).one()
        return {c.clock_id: (c.due_on - report.created_on, c.state) for c in report.clocks}


def _repair(instance_dir: Path) -> None:
    config = instance_dir / "parrhesia.toml"
    document = tomllib.loads(config.read_text(encoding="utf-8"))
    document["plugins"]["flaky-clocks"]["broken"] = False
    config.write_text(tomli_w.dumps(document), encoding="utf-8")


def test_a_raising_clocks_hook_leaves_default_deadlines_and_tick_restores_the_plugins(
    app: Flask, instance_dir: Path
) -> None:
    response, codename = submit_report(app.test_client(), "report while the clocks plugin is down")
    assert codename, response.get_data(as_text=True)[:300]
    # Fail closed: the instance's default deadlines, marked as such.
    assert _clocks(app) == {"fallback-acknowledge": (timedelta(days=7), "running"),
                            "fallback-feedback": (_clocks(app)["fallback-feedback"][0], "running")}
    assert timedelta(days=89) <= _clocks(app)["fallback-feedback"][0] <= timedelta(days=92)
    runner = CliRunner()
    errors = runner.invoke(main, ["plugins", "errors", "--instance", str(instance_dir)])
    assert "flaky-clocks" in errors.output and "parrhesia_clocks" in errors.output  # operators see it
    # While the plugin still fails, tick keeps the fallback clocks.
    still = runner.invoke(main, ["tick", "--instance", str(instance_dir)])
    assert still.exit_code == 0 and "restored" not in still.output
    _repair(instance_dir)
    repaired = runner.invoke(main, ["tick", "--instance", str(instance_dir)])
    assert repaired.exit_code == 0, repaired.output
    assert "restored\t" in repaired.output
    # The plugin's own deadlines, each no later than the fallback one it replaces.
    assert _clocks(app) == {"flaky-acknowledge": (timedelta(days=7), "running"),
                            "flaky-feedback": (timedelta(days=60), "running")}
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        assert db.scalars(select(AuditEntry.action).where(AuditEntry.action == "clocks.restored")).all()


class TestAFailingRoutePlugin:
    """The flaky-route plugin proposes the ombudsman for "other" reports, and fails while
    ``[plugins.flaky-route] broken`` is true: its last answer for the same fields stays."""

    @pytest.fixture
    def instance_settings(self) -> dict[str, Any]:
        return {"plugins": ["flaky-route"], "plugin_settings": {"flaky-route": {"broken": False}},
                "instance": {"route": ["integrity-office"], "last_resort": ["integrity-office"]}}

    def test_its_last_answer_for_the_same_fields_still_routes(self, app: Flask, instance_dir: Path) -> None:
        from parrhesia.testing import add_test_recipient
        from parrhesia.web.app import create_app

        add_test_recipient(app, "ombudsman")  # the ombudsman can read
        submit_report(app.test_client(), "first, while the plugin works", subject="other")
        config = instance_dir / "parrhesia.toml"
        document = tomllib.loads(config.read_text(encoding="utf-8"))
        document["plugins"]["flaky-route"]["broken"] = True
        config.write_text(tomli_w.dumps(document), encoding="utf-8")
        broken = create_app(instance_dir, {"TESTING": True})
        try:
            response, codename = submit_report(broken.test_client(), "second, while it fails", subject="other")
            assert codename, response.get_data(as_text=True)[:300]
        finally:
            broken.extensions["parrhesia.instance"].dispose()
        with Session(app.extensions["parrhesia.instance"].engine) as db:
            routes = [sorted(b.body_id for b in r.bodies if b.role == "route") for r in db.scalars(select(Report))]
        assert routes == [["integrity-office", "ombudsman"]] * 2  # the ombudsman is not lost
