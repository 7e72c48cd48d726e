"""Retention: expired reports are crypto-shredded; a legal hold, a reopening, a missing
rule or a failing plugin keeps them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from plugin_fixtures import fixture_entry_points  # noqa: F401 - autouse fixture
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.domain import casework
from parrhesia.domain.retention import destroy
from parrhesia.ops.demo import DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.storage.models import AuditEntry, Part, PluginError, Recipient, Report, SealedKey
from parrhesia.testing import RegisteredRecipient, add_test_recipient, log_in, submit_report


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return {"plugins": DEMO_PLUGINS, "bodies": [], "instance": DEMO_SETTINGS}


def _submit_and_close(app: Flask, officer: RegisteredRecipient, message: str) -> tuple[str, str]:
    response, codename = submit_report(app.test_client(), message, [("evidence.pdf", b"%PDF " + message.encode())],
                                       subject="public-procurement")
    assert codename
    engine = app.extensions["parrhesia.instance"].engine
    with Session(engine) as db:
        report_id = db.scalars(select(Report.id).order_by(Report.id)).all()
        recipient = db.get(Recipient, officer.id)
        assert recipient is not None
        for rid in report_id:
            opened = casework.open_report(db, recipient, rid)
            if opened.status != "closed":
                # Handled in time (acknowledged, feedback given), so no missed clock later
                # hands it to the escalation chain, whose bodies can read it and would
                # reopen it: it stays closed and its retention period runs.
                casework.acknowledge(db, recipient, opened, on=date.today())
                casework.seal_reply(app.extensions["parrhesia.instance"], db, recipient, opened, "Thank you; closed.",
                                    feedback=True, on=date.today())
                db.commit()
                casework.set_status(db, recipient, opened, "closed", on=date.today())
                return rid, codename
    raise AssertionError("no report to close")


def _blobs(app: Flask) -> set[str]:
    root = app.extensions["parrhesia.instance"].blobs.root
    return {p.name for p in root.rglob("*") if p.is_file()}


def test_expired_report_leaves_no_ciphertext_or_sealed_key_while_a_held_one_survives(app: Flask) -> None:
    officer = add_test_recipient(app, "example-aca")
    expired, codename = _submit_and_close(app, officer, "expired-canary-1")
    held, _ = _submit_and_close(app, officer, "held-canary-2")
    folder = str(app.extensions["parrhesia.instance"].config.path)
    engine = app.extensions["parrhesia.instance"].engine
    with Session(engine) as db:
        expired_blobs = {p.blob for p in db.scalars(select(Part).where(Part.report_id == expired))}
        closed_on = db.get(Report, expired).closed_on  # type: ignore[union-attr]
    assert expired_blobs and expired_blobs <= _blobs(app)
    hold = CliRunner().invoke(main, ["hold", "--instance", folder, "--report", held, "--reason", "court order 7/2026",
                                     "--operator", "ops1"])
    assert hold.exit_code == 0, hold.output
    assert closed_on is not None
    not_yet = CliRunner().invoke(main, ["tick", "--instance", folder, "--now", (closed_on + timedelta(days=5 * 365)).isoformat()])
    assert "destroyed" not in not_yet.output
    later = CliRunner().invoke(main, ["tick", "--instance", folder, "--now", (closed_on + timedelta(days=5 * 365 + 1)).isoformat()])
    assert later.exit_code == 0, later.output
    assert f"destroyed\t{expired}" in later.output and f"held\t{held}" in later.output
    assert not expired_blobs & _blobs(app)  # no ciphertext left
    with Session(engine) as db:
        assert db.get(Report, expired) is None
        assert db.scalars(select(SealedKey).where(SealedKey.report_id == expired)).all() == []
        assert db.scalars(select(Part).where(Part.report_id == expired)).all() == []
        assert db.get(Report, held) is not None
        record = db.scalars(select(AuditEntry).where(AuditEntry.action == "destroyed")).one()
        assert record.report_id == expired and "Example Records Act" in record.detail
        leftovers = [t for (t,) in db.execute(text("SELECT report_id FROM source_sessions"))]
    assert expired not in leftovers
    source = app.test_client()
    assert log_in(source, codename).status_code == 403  # the codename opens nothing any more
    verify = CliRunner().invoke(main, ["audit", "verify", "--instance", folder])
    assert verify.exit_code == 0, verify.output


def test_a_reopened_report_is_not_destroyed(app: Flask) -> None:
    officer = add_test_recipient(app, "example-aca")
    report_id, _ = _submit_and_close(app, officer, "reopened")
    engine = app.extensions["parrhesia.instance"].engine
    with Session(engine) as db:
        recipient = db.get(Recipient, officer.id)
        assert recipient is not None
        casework.set_status(db, recipient, casework.open_report(db, recipient, report_id), "investigating", on=date.today())
    folder = str(app.extensions["parrhesia.instance"].config.path)
    result = CliRunner().invoke(main, ["tick", "--instance", folder, "--now", "2099-01-01"])
    assert "destroyed" not in result.output


def test_parrhesia_retention_longest_rule_wins_and_no_rule_keeps(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from parrhesia.domain.retention import rule_for
    from parrhesia.plugin import RetentionRule, hookimpl

    class Shorter:
        @hookimpl
        def parrhesia_retention(self) -> RetentionRule:
            return RetentionRule(days=30, legal_source="Short Act s.1")

    host = app.extensions["parrhesia.domain.host"]
    host.manager.register(Shorter(), name="shorter")
    report = Report(id="r" * 32, fields=[])
    rule, failures = rule_for(host, report)
    assert failures == [] and rule is not None
    assert rule.days == 5 * 365  # the demo's five years beat thirty days
    host.manager.unregister(name="shorter")
    host.manager.unregister(name="demo")
    assert rule_for(host, report) == (None, [])


# --- every path that destroys or keeps a report, with rules per jurisdiction ----------

RECORDS = {
    "plugins": ["records-law", "broken-records"],
    "bodies": [
        {"id": "records-office", "name": "Records Office", "kind": "ombudsman", "jurisdiction": "northland"},
        *({"id": f"{j}-agency", "name": f"{j.title()} Agency", "kind": "anti-corruption agency", "jurisdiction": j}
          for j in ("southland", "brokenland", "oddland", "silentland")),
    ],
    "instance": {"route": ["records-office"], "last_resort": ["records-office"]},
}


@dataclass
class Closed:
    id: str
    codename: str
    blobs: set[str]
    closed_on: date


class TestRetentionPaths:
    """Each report is submitted through the source form, routed to the Records Office and
    closed there by a case officer; ``parrhesia tick --now`` then simulates the days."""

    @pytest.fixture
    def instance_settings(self) -> dict[str, Any]:
        return RECORDS

    @pytest.fixture
    def officer(self, app: Flask) -> RegisteredRecipient:
        return add_test_recipient(app, "records-office")

    def _close(self, app: Flask, officer: RegisteredRecipient, jurisdiction: str) -> Closed:
        from parrhesia.crypto import derive_source_identity
        from parrhesia.domain.reports import find_by_lookup

        message = f"retention-canary-{jurisdiction}"
        response, codename = submit_report(app.test_client(), message, [("ledger.pdf", b"%PDF " + message.encode())],
                                           jurisdiction=jurisdiction)
        assert response.status_code == 200 and codename, response.status_code
        instance = app.extensions["parrhesia.instance"]
        with Session(instance.engine) as db:
            found = find_by_lookup(db, derive_source_identity(codename, instance.pepper, instance.codename_kdf).lookup_id)
            assert found is not None
            assert [f.value for f in found.fields if f.name == "jurisdiction"] == [jurisdiction]
            recipient = db.get(Recipient, officer.id)
            assert recipient is not None
            report = casework.open_report(db, recipient, found.id)
            casework.set_status(db, recipient, report, "closed", on=date.today())
            blobs = {p.blob for p in report.parts}
            assert report.closed_on is not None and blobs and blobs <= _blobs(app)
            return Closed(report.id, codename, blobs, report.closed_on)

    def _tick(self, app: Flask, on: date) -> str:
        folder = str(app.extensions["parrhesia.instance"].config.path)
        result = CliRunner().invoke(main, ["tick", "--instance", folder, "--now", on.isoformat()])
        assert result.exit_code == 0, result.output
        return result.output

    def _exists(self, app: Flask, report: Closed) -> bool:
        with Session(app.extensions["parrhesia.instance"].engine) as db:
            return db.get(Report, report.id) is not None

    def _assert_shredded(self, app: Flask, report: Closed) -> None:
        assert not report.blobs & _blobs(app)  # no ciphertext left
        with Session(app.extensions["parrhesia.instance"].engine) as db:
            assert db.get(Report, report.id) is None
            for table in (SealedKey, Part):
                assert db.scalars(select(table).where(table.report_id == report.id)).all() == []
        assert log_in(app.test_client(), report.codename).status_code == 403

    def _destroyed_records(self, app: Flask) -> list[AuditEntry]:
        with Session(app.extensions["parrhesia.instance"].engine) as db:
            return list(db.scalars(select(AuditEntry).where(AuditEntry.action == "destroyed").order_by(AuditEntry.seq)))

    def test_each_jurisdiction_keeps_its_reports_exactly_as_long_as_its_own_rule(
        self, app: Flask, officer: RegisteredRecipient
    ) -> None:
        north = self._close(app, officer, "northland")  # 30 days
        south = self._close(app, officer, "southland")  # 365 days
        assert north.closed_on == south.closed_on
        day = north.closed_on

        last_day = self._tick(app, day + timedelta(days=30))  # within the period: kept
        assert "destroyed" not in last_day and self._exists(app, north) and self._exists(app, south)

        after_north = self._tick(app, day + timedelta(days=31))
        assert f"destroyed\t{north.id}" in after_north.splitlines()
        assert south.id not in after_north
        self._assert_shredded(app, north)
        assert self._exists(app, south) and south.blobs <= _blobs(app)

        assert "destroyed" not in self._tick(app, day + timedelta(days=365))
        after_south = self._tick(app, day + timedelta(days=366))
        assert f"destroyed\t{south.id}" in after_south.splitlines()
        self._assert_shredded(app, south)

        records = self._destroyed_records(app)
        assert [(r.report_id, r.actor) for r in records] == [(north.id, "system"), (south.id, "system")]
        assert json.loads(records[0].detail) == {"reason": "Northland Records Act s.3", "parts": 2}  # message, attachment
        assert json.loads(records[1].detail) == {"reason": "Southland Archives Act s.9", "parts": 2}
        assert "retention-canary" not in "".join(r.detail for r in records)  # no content in the log
        folder = str(app.extensions["parrhesia.instance"].config.path)
        verify = CliRunner().invoke(main, ["audit", "verify", "--instance", folder])
        assert verify.exit_code == 0, verify.output

    def test_what_tick_prints_for_destroyed_and_held_reports(self, app: Flask, officer: RegisteredRecipient) -> None:
        destroyed = self._close(app, officer, "northland")
        held = self._close(app, officer, "northland")
        folder = str(app.extensions["parrhesia.instance"].config.path)
        hold = CliRunner().invoke(main, ["hold", "--instance", folder, "--report", held.id, "--reason", "court order 9/2026",
                                         "--operator", "ops1"])
        assert hold.exit_code == 0, hold.output
        on = destroyed.closed_on + timedelta(days=31)
        lines = self._tick(app, on).splitlines()
        assert lines == [
            f"destroyed\t{destroyed.id}",
            f"held\t{held.id}\t(legal hold: kept past its retention period)",
            f"{on.isoformat()}: 0 clock(s) missed, 0 report(s) escalated",
        ]

    def test_a_legal_hold_keeps_a_report_until_it_is_released(self, app: Flask, officer: RegisteredRecipient) -> None:
        report = self._close(app, officer, "northland")
        folder = str(app.extensions["parrhesia.instance"].config.path)
        placed = CliRunner().invoke(main, ["hold", "--instance", folder, "--report", report.id, "--reason", "appeal pending",
                                           "--operator", "ops1"])
        assert placed.exit_code == 0, placed.output
        for years in (1, 10):
            output = self._tick(app, report.closed_on + timedelta(days=365 * years))
            assert f"held\t{report.id}" in output and "destroyed" not in output
            assert self._exists(app, report) and report.blobs <= _blobs(app)
        engine = app.extensions["parrhesia.instance"].engine
        with Session(engine) as db:
            held = db.get(Report, report.id)
            assert held is not None
            with pytest.raises(ValueError, match="legal hold"):
                destroy(app.extensions["parrhesia.instance"], db, held, actor="operator:ops1", reason="tidy up")
        assert self._exists(app, report) and self._destroyed_records(app) == []

        released = CliRunner().invoke(main, ["hold", "--instance", folder, "--report", report.id, "--release",
                                             "--operator", "ops1"])
        assert released.exit_code == 0, released.output
        assert f"destroyed\t{report.id}" in self._tick(app, report.closed_on + timedelta(days=31))
        self._assert_shredded(app, report)

    def test_reopening_stops_the_period_and_closing_again_restarts_it(
        self, app: Flask, officer: RegisteredRecipient
    ) -> None:
        report = self._close(app, officer, "northland")
        engine = app.extensions["parrhesia.instance"].engine
        with Session(engine) as db:
            recipient = db.get(Recipient, officer.id)
            assert recipient is not None
            casework.set_status(db, recipient, casework.open_report(db, recipient, report.id), "investigating", on=date.today())
            assert db.get(Report, report.id).closed_on is None  # type: ignore[union-attr]
        assert "destroyed" not in self._tick(app, report.closed_on + timedelta(days=10 * 365))
        assert self._exists(app, report)

        # Closed again, a year on: the thirty days run from the second closure.
        with Session(engine) as db:
            recipient = db.get(Recipient, officer.id)
            assert recipient is not None
            casework.set_status(db, recipient, casework.open_report(db, recipient, report.id), "closed", on=date.today())
            again = db.get(Report, report.id)
            assert again is not None
            again.closed_on = report.closed_on + timedelta(days=365)
            db.commit()
        assert "destroyed" not in self._tick(app, report.closed_on + timedelta(days=365 + 30))
        assert f"destroyed\t{report.id}" in self._tick(app, report.closed_on + timedelta(days=365 + 31))
        self._assert_shredded(app, report)

    def test_a_report_still_open_is_never_destroyed(self, app: Flask, officer: RegisteredRecipient) -> None:
        report = self._close(app, officer, "northland")
        engine = app.extensions["parrhesia.instance"].engine
        with Session(engine) as db:
            recipient = db.get(Recipient, officer.id)
            assert recipient is not None
            casework.set_status(db, recipient, casework.open_report(db, recipient, report.id), "referred", on=date.today())
            # Even with a stale closure date left behind, only a closed report is judged.
            db.execute(update(Report).where(Report.id == report.id).values(closed_on=report.closed_on))
            db.commit()
        assert "destroyed" not in self._tick(app, report.closed_on + timedelta(days=10 * 365))
        assert self._exists(app, report)

    def test_a_report_no_plugin_gives_a_rule_for_is_kept(self, app: Flask, officer: RegisteredRecipient) -> None:
        report = self._close(app, officer, "silentland")
        assert "destroyed" not in self._tick(app, report.closed_on + timedelta(days=100 * 365))
        assert self._exists(app, report) and report.blobs <= _blobs(app)
        assert self._plugin_errors(app) == []

    def _plugin_errors(self, app: Flask) -> list[tuple[str, str, str, str | None]]:
        with Session(app.extensions["parrhesia.instance"].engine) as db:
            return [(e.plugin, e.hook, e.error, e.report_id) for e in db.scalars(select(PluginError))]

    def test_a_failing_retention_hook_keeps_the_report_despite_a_shorter_rule(
        self, app: Flask, officer: RegisteredRecipient
    ) -> None:
        report = self._close(app, officer, "brokenland")  # records-law: 1 day; broken-records raises
        output = self._tick(app, report.closed_on + timedelta(days=365))
        assert "destroyed" not in output and "unreachable" not in output
        assert self._exists(app, report) and report.blobs <= _blobs(app)
        assert self._destroyed_records(app) == []
        # Shown to operators, without the exception's message (it could carry content).
        assert self._plugin_errors(app) == [("broken-records", "parrhesia_retention", "RuntimeError", None)]

    def test_an_answer_that_is_not_a_retention_rule_keeps_the_report(
        self, app: Flask, officer: RegisteredRecipient
    ) -> None:
        # broken-records answers oddland with a dict meaning ten years: ignoring it would
        # let records-law's one day win and destroy the report years early.
        report = self._close(app, officer, "oddland")
        output = self._tick(app, report.closed_on + timedelta(days=365))
        assert "destroyed" not in output
        assert self._exists(app, report) and report.blobs <= _blobs(app)
        assert self._plugin_errors(app) == [("broken-records", "parrhesia_retention", "TypeError", None)]

    def test_a_failure_for_one_report_does_not_keep_the_others(self, app: Flask, officer: RegisteredRecipient) -> None:
        broken = self._close(app, officer, "brokenland")
        north = self._close(app, officer, "northland")
        output = self._tick(app, north.closed_on + timedelta(days=31))
        assert f"destroyed\t{north.id}" in output.splitlines() and broken.id not in output
        self._assert_shredded(app, north)
        assert self._exists(app, broken)
