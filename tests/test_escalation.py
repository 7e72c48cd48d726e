"""Clocks and escalation on the demo jurisdiction, with a simulated clock (no sleeping)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.domain import casework
from parrhesia.ops.demo import DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.storage.models import AuditEntry, QueuedNotification, Recipient, Report, ReportClock
from parrhesia.testing import RegisteredRecipient, add_test_recipient, csrf_token, log_in, submit_report


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    # No standing readers: each test says which bodies hold a key.
    return {"plugins": DEMO_PLUGINS, "bodies": [], "instance": DEMO_SETTINGS, "readers": False}


@pytest.fixture
def aca(app: Flask) -> RegisteredRecipient:
    return add_test_recipient(app, "example-aca", name="ACA officer")


@pytest.fixture
def ombudsman(app: Flask) -> RegisteredRecipient:
    return add_test_recipient(app, "example-ombudsman", name="Ombudsman officer")


@pytest.fixture
def report(app: Flask, aca: RegisteredRecipient, ombudsman: RegisteredRecipient) -> tuple[str, str]:
    """A report implicating the Ministry of the Interior: (report id, codename)."""
    response, codename = submit_report(
        app.test_client(), "The ministry rigs tenders.", implicated="example-interior", subject="public-procurement"
    )
    assert response.status_code == 200 and codename
    with Session(_engine(app)) as db:
        report_id = db.scalars(select(Report.id)).one()
    return report_id, codename


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def _folder(app: Flask) -> str:
    return str(app.extensions["parrhesia.instance"].config.path)


def _tick(app: Flask, day: date) -> str:
    result = CliRunner().invoke(main, ["tick", "--instance", _folder(app), "--now", day.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def _visible(app: Flask, who: RegisteredRecipient) -> list[str]:
    return [r["id"] for r in app.test_client().get("/api/v1/reports", headers=who.headers).json["reports"]]


def _created(app: Flask, report_id: str) -> date:
    with Session(_engine(app)) as db:
        report = db.get(Report, report_id)
        assert report is not None
        return report.created_on


def test_a_body_nobody_there_could_read_for_is_skipped(app: Flask, aca: RegisteredRecipient) -> None:
    # The ombudsman holds no key (no recipient at submission); the audit office does.
    audit_office = add_test_recipient(app, "example-audit-office")
    _, codename = submit_report(app.test_client(), "x", implicated="example-interior", subject="public-procurement")
    with Session(_engine(app)) as db:
        report_id = db.scalars(select(Report.id)).one()
    _tick(app, _created(app, report_id) + timedelta(days=8))
    assert _visible(app, audit_office) == [report_id]


def test_report_not_acknowledged_within_7_days_escalates_to_the_next_independent_body(
    app: Flask, aca: RegisteredRecipient, ombudsman: RegisteredRecipient, report: tuple[str, str]
) -> None:
    report_id, codename = report
    start = _created(app, report_id)
    assert _visible(app, aca) == [report_id] and _visible(app, ombudsman) == []
    assert "0 clock(s) missed" in _tick(app, start + timedelta(days=7))  # due today: not yet missed
    output = _tick(app, start + timedelta(days=8))
    assert f"missed\t{report_id}\teu-acknowledge" in output
    assert f"escalated\t{report_id}\texample-ombudsman" in output
    assert _visible(app, ombudsman) == [report_id] and _visible(app, aca) == [report_id]
    listing = app.test_client().get(f"/api/v1/reports/{report_id}", headers=ombudsman.headers).json
    assert listing["sealed_key"] is not None  # sealed at submission, withheld until now
    # The body that gained it decrypts it, and was notified like for a new report.
    key = ombudsman.report_key(app.test_client(), report_id)
    with Session(_engine(app)) as db:
        assert bytes(key.public_key) == db.get(Report, report_id).public_key
        queued = [(q.recipient_id, q.kind) for q in db.scalars(select(QueuedNotification))]
    assert (ombudsman.id, "new-report") in queued
    with Session(_engine(app)) as db:
        theirs = db.scalars(select(ReportClock).where(ReportClock.body_id == "example-ombudsman")).all()
        assert {c.due_on for c in theirs if c.met_by == "acknowledge"} == {start + timedelta(days=15)}
        actions = [(e.action, e.actor, e.body_id) for e in db.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert ("escalation", "system", "example-ombudsman") in actions
    source = app.test_client()
    log_in(source, codename)
    page = source.get("/report").get_data(as_text=True)
    assert "sent to Ombudsman of the Republic" in page and "a deadline was missed" in page


def test_an_acknowledged_report_does_not_escalate(app: Flask, aca: RegisteredRecipient, report: tuple[str, str]) -> None:
    report_id, _ = report
    with Session(_engine(app)) as db:
        recipient = db.get(Recipient, aca.id)
        assert recipient is not None
        casework.acknowledge(db, recipient, casework.open_report(db, recipient, report_id), on=date.today())
    assert "0 clock(s) missed" in _tick(app, _created(app, report_id) + timedelta(days=30))


def test_a_recipient_cannot_cancel_an_escalation(
    app: Flask, aca: RegisteredRecipient, ombudsman: RegisteredRecipient, report: tuple[str, str]
) -> None:
    report_id, _ = report
    _tick(app, _created(app, report_id) + timedelta(days=8))
    client = app.test_client()
    for path in (f"/api/v1/reports/{report_id}/escalations", f"/api/v1/reports/{report_id}/access/example-ombudsman"):
        for method in ("DELETE", "POST", "PUT"):
            assert client.open(path, method=method, headers=aca.headers).status_code in (404, 405)
    with Session(_engine(app)) as db:
        recipient = db.get(Recipient, aca.id)
        assert recipient is not None
        opened = casework.open_report(db, recipient, report_id)
        casework.set_status(db, recipient, opened, "closed", on=date.today())
        with pytest.raises(casework.CaseworkError, match="already has this report"):
            casework.transfer(app.extensions["parrhesia.domain.host"], db, recipient, opened, "example-ombudsman", "go away")
    assert _visible(app, ombudsman) == [report_id]


def test_the_source_escalates_once_the_feedback_clock_has_passed(
    app: Flask, ombudsman: RegisteredRecipient, report: tuple[str, str]
) -> None:
    report_id, codename = report
    source = app.test_client()
    log_in(source, codename)
    token = csrf_token(source.get("/report").data)
    early = source.post("/report/escalate", data={"csrf_token": token, "reason": "no-feedback"})
    assert early.status_code == 400
    assert "once the deadline for feedback has passed" in early.get_data(as_text=True)
    assert _visible(app, ombudsman) == []
    with Session(_engine(app)) as db:  # three months pass without feedback
        for clock in db.scalars(select(ReportClock).where(ReportClock.met_by == "feedback")):
            clock.due_on = date.today() - timedelta(days=1)
        db.commit()
    late = source.post("/report/escalate", data={"csrf_token": token, "reason": "no-feedback", "explanation": "canary-9d1 nobody answered"})
    assert late.status_code == 303
    assert _visible(app, ombudsman) == [report_id]
    assert "you asked" in source.get("/report").get_data(as_text=True)
    with Session(_engine(app)) as db:
        rows = [str(r) for r in db.execute(select(AuditEntry.detail))]
    assert not any("canary-9d1" in r for r in rows)


@pytest.mark.parametrize("reason", ["imminent-danger", "collusion"])
def test_the_source_can_escalate_at_any_time_for_danger_or_collusion(
    app: Flask, ombudsman: RegisteredRecipient, report: tuple[str, str], reason: str
) -> None:
    report_id, codename = report
    source = app.test_client()
    log_in(source, codename)
    token = csrf_token(source.get("/report").data)
    assert source.post("/report/escalate", data={"csrf_token": token, "reason": reason}).status_code == 303
    assert _visible(app, ombudsman) == [report_id]


def test_an_operator_escalation_is_recorded_with_its_reason(app: Flask, ombudsman: RegisteredRecipient, report: tuple[str, str]) -> None:
    report_id, _ = report
    result = CliRunner().invoke(
        main, ["escalate", "--instance", _folder(app), "--report", report_id, "--reason", "board decision 12/2026",
               "--operator", "ops1"]
    )
    assert result.exit_code == 0, result.output
    assert "escalated to example-ombudsman" in result.output
    with Session(_engine(app)) as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "escalation")).one()
        assert entry.actor == "operator:ops1"
        step = db.get(Report, report_id).escalations[0]  # type: ignore[union-attr]
        assert (step.trigger, step.reason) == ("operator", "board decision 12/2026")


def test_recusal_escalates_and_the_body_loses_access_at_once(
    app: Flask, aca: RegisteredRecipient, ombudsman: RegisteredRecipient, report: tuple[str, str]
) -> None:
    report_id, _ = report
    with Session(_engine(app)) as db:
        recipient = db.get(Recipient, aca.id)
        assert recipient is not None
        gained, _events = casework.recuse(app.extensions["parrhesia.domain.host"], db, recipient,
                                 casework.open_report(db, recipient, report_id), "my brother works there")
    assert gained == ["example-ombudsman"]
    assert _visible(app, aca) == [] and _visible(app, ombudsman) == [report_id]


def test_feedback_clock_extends_only_as_far_as_the_law_allows(app: Flask, aca: RegisteredRecipient, report: tuple[str, str]) -> None:
    report_id, _ = report
    with Session(_engine(app)) as db:
        recipient = db.get(Recipient, aca.id)
        assert recipient is not None
        opened = casework.open_report(db, recipient, report_id)
        with pytest.raises(casework.CaseworkError, match="at most 6 months"):
            casework.extend_clock(db, recipient, opened, "eu-feedback", 7, "complex case")
        with pytest.raises(casework.CaseworkError, match="allows no extension"):
            casework.extend_clock(db, recipient, opened, "eu-acknowledge", 1, "busy")
        with pytest.raises(casework.CaseworkError, match="reason"):
            casework.extend_clock(db, recipient, opened, "eu-feedback", 6, " ")
        casework.extend_clock(db, recipient, opened, "eu-feedback", 6, "duly justified: cross-border evidence")
        clock = next(c for c in opened.clocks if c.clock_id == "eu-feedback")
        assert clock.due_on.month == (opened.created_on.month + 5) % 12 + 1
        assert clock.extension_reason == "duly justified: cross-border evidence"


def test_the_chain_can_run_out_without_losing_the_report(app: Flask) -> None:
    for body in ("example-aca", "example-ombudsman", "example-audit-office", "example-prosecutor", "example-parliament",
                 "example-ngo"):
        add_test_recipient(app, body)
    _, codename = submit_report(app.test_client(), "x", implicated="example-interior", subject="public-procurement")
    with Session(_engine(app)) as db:
        report_id = db.scalars(select(Report.id)).one()
    for _ in range(8):
        CliRunner().invoke(main, ["escalate", "--instance", _folder(app), "--report", report_id,
                                  "--reason", "drill", "--operator", "ops1"])
    with Session(_engine(app)) as db:
        opened = db.get(Report, report_id)
        assert opened is not None
        assert opened.escalations[-1].body_id is None  # exhausted, recorded
        assert {"example-aca", "example-ombudsman", "example-ngo"} <= {b.body_id for b in opened.bodies if b.role == "route"}
        assert not {"example-interior", "example-police"} & {b.body_id for b in opened.bodies if b.role == "route"}


def test_an_unknown_time_zone_is_a_clear_error(tmp_path: Any) -> None:
    from parrhesia.config import ConfigError, load_config

    (tmp_path / "parrhesia.toml").write_text('[instance]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match="not a known time zone"):
        load_config(tmp_path)


def test_a_transfer_to_a_body_without_recipients_is_refused(app: Flask, aca: RegisteredRecipient, report: tuple[str, str]) -> None:
    report_id, _ = report
    with Session(_engine(app)) as db:
        recipient = db.get(Recipient, aca.id)
        assert recipient is not None
        opened = casework.open_report(db, recipient, report_id)
        with pytest.raises(casework.CaseworkError, match="no key on this instance"):
            casework.transfer(app.extensions["parrhesia.domain.host"], db, recipient, opened, "example-audit-office", "audit matter")
    assert _visible(app, aca) == [report_id]


def test_closing_a_report_does_not_silence_its_deadlines_and_escalation_reopens_it(
    app: Flask, aca: RegisteredRecipient, ombudsman: RegisteredRecipient, report: tuple[str, str]
) -> None:
    report_id, _ = report
    with Session(_engine(app)) as db:
        recipient = db.get(Recipient, aca.id)
        assert recipient is not None
        casework.set_status(db, recipient, casework.open_report(db, recipient, report_id), "closed", on=date.today())
    assert f"escalated\t{report_id}\texample-ombudsman" in _tick(app, _created(app, report_id) + timedelta(days=8))
    with Session(_engine(app)) as db:
        reopened = db.get(Report, report_id)
        assert reopened is not None and reopened.status == "received" and reopened.closed_on is None
