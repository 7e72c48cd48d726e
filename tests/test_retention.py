"""Retention: expired reports are crypto-shredded; a legal hold keeps them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from parrhesia import casework
from parrhesia.cli import main
from parrhesia.demo import DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.models import AuditEntry, Part, Recipient, Report, SealedKey
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
                casework.acknowledge(db, recipient, opened)
                casework.seal_reply(app.extensions["parrhesia.instance"], db, recipient, opened, "Thank you; closed.",
                                    feedback=True)
                db.commit()
                casework.set_status(db, recipient, opened, "closed")
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
        casework.set_status(db, recipient, casework.open_report(db, recipient, report_id), "investigating")
    folder = str(app.extensions["parrhesia.instance"].config.path)
    result = CliRunner().invoke(main, ["tick", "--instance", folder, "--now", "2099-01-01"])
    assert "destroyed" not in result.output


def test_parrhesia_retention_longest_rule_wins_and_no_rule_keeps(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from parrhesia.plugin import RetentionRule, hookimpl
    from parrhesia.retention import rule_for

    class Shorter:
        @hookimpl
        def parrhesia_retention(self) -> RetentionRule:
            return RetentionRule(days=30, legal_source="Short Act s.1")

    host = app.extensions["parrhesia.host"]
    host.manager.register(Shorter(), name="shorter")
    report = Report(id="r" * 32, fields=[])
    rule, failures = rule_for(host, report)
    assert failures == [] and rule is not None
    assert rule.days == 5 * 365  # the demo's five years beat thirty days
    host.manager.unregister(name="shorter")
    host.manager.unregister(name="demo")
    assert rule_for(host, report) == (None, [])
