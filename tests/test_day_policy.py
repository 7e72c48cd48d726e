"""One "today" for a report's deadlines: its jurisdiction's day, on every path.

The instance runs in UTC; the Republic of Example's deadlines are counted in a zone
chosen so that its day differs from UTC's at the moment the test runs. Before the
domain core had one day policy, the desk paused clocks and recusal escalated in UTC
while the API and ``tick`` used the jurisdiction's day, and a pausable protection
clock lost its ``pausable`` on the way to the report.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.contract.clocks import Clock
from parrhesia.contract.protection import ProtectionMeasure
from parrhesia.domain import casework, protection_requests
from parrhesia.ops.demo import DEMO_PLUGIN_SETTINGS, DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.storage.models import Recipient, Report
from parrhesia.testing import add_test_recipient, review_route, submit_report


def _zone_whose_day_is_not_utcs() -> str:
    # UTC+14 is a day ahead from 10:00 UTC; UTC-12 a day behind until 12:00 UTC.
    return "Pacific/Kiritimati" if datetime.now(UTC).hour >= 10 else "Etc/GMT+12"


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    settings = dict(DEMO_SETTINGS, timezone="UTC")
    return {"plugins": DEMO_PLUGINS, "plugin_settings": DEMO_PLUGIN_SETTINGS, "bodies": [], "instance": settings,
            "readers": False, "timezones": {"example": _zone_whose_day_is_not_utcs()}}


@pytest.fixture
def app(instance_dir: Any, instance_settings: dict[str, Any]) -> Any:
    """The test app, with ``[timezones]`` written into the instance's configuration."""
    from parrhesia.web.app import create_app

    config = instance_dir / "parrhesia.toml"
    zones = "".join(f'{j} = "{z}"\n' for j, z in instance_settings["timezones"].items())
    config.write_text(config.read_text(encoding="utf-8") + f"\n[timezones]\n{zones}", encoding="utf-8")
    application = create_app(instance_dir, {"TESTING": True})
    yield application
    application.extensions["parrhesia.instance"].dispose()


def _report(app: Flask) -> Report:
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        report = db.scalars(select(Report)).one()
        db.expunge_all()
        return report


def _jurisdiction_day(app: Flask) -> Any:
    return app.extensions["parrhesia.domain.host"].config.today("example")


def test_the_jurisdictions_day_differs_from_utcs_here(app: Flask) -> None:
    assert _jurisdiction_day(app) != datetime.now(UTC).date()


def test_review_page_shows_the_due_days_that_are_stored(app: Flask) -> None:
    add_test_recipient(app, "example-aca")
    page = review_route(app.test_client(), jurisdiction="example", subject="public-procurement").get_data(as_text=True)
    submit_report(app.test_client(), "x", jurisdiction="example", subject="public-procurement")
    report = _report(app)
    assert report.created_on == _jurisdiction_day(app)
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        stored = db.get(Report, report.id)
        assert stored is not None and stored.clocks
        for clock in stored.clocks:
            assert clock.due_on.isoformat() in page, clock.clock_id


def test_recusal_and_desk_pauses_count_in_the_jurisdictions_day(app: Flask) -> None:
    aca = add_test_recipient(app, "example-aca")
    add_test_recipient(app, "example-ombudsman")
    submit_report(app.test_client(), "x", jurisdiction="example", subject="public-procurement")
    report_id = _report(app).id
    host = app.extensions["parrhesia.domain.host"]
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        recipient = db.get(Recipient, aca.id)
        assert recipient is not None
        casework.recuse(host, db, recipient, casework.open_report(db, recipient, report_id), "conflict")
        report = db.get(Report, report_id)
        assert report is not None
        assert [e.on for e in report.escalations] == [_jurisdiction_day(app)]


def test_a_pausable_protection_clock_can_be_paused_and_resumed(app: Flask) -> None:
    add_test_recipient(app, "example-aca")
    ombudsman = add_test_recipient(app, "example-ombudsman")
    submit_report(app.test_client(), "x", jurisdiction="example", subject="public-procurement")
    report_id = _report(app).id
    measure = ProtectionMeasure(
        id="example-reflection", label="Reflection period", description="d", legal_source="CETS 197 Art 13",
        jurisdiction="example", body_id="example-ombudsman",
        clock=Clock(id="example-reflection", label="Reflection period ends", legal_source="CETS 197 Art 13",
                    days=30, pausable=True),
    )
    host = dataclasses.replace(app.extensions["parrhesia.domain.host"], measures=(measure,))
    instance = app.extensions["parrhesia.instance"]
    day = _jurisdiction_day(app)
    with Session(instance.engine) as db:
        report = db.get(Report, report_id)
        assert report is not None
        protection_requests.request_protection(host, instance, db, report, measure_id=measure.id, details="d", on=day)
        clock = next(c for c in report.clocks if c.clock_id.startswith("protection-"))
        assert clock.pausable
        recipient = db.get(Recipient, ombudsman.id)
        assert recipient is not None
        casework.pause_clock(db, recipient, report, clock.clock_id, "the source asked for time", on=day)
        assert clock.state == "paused" and clock.paused_on == day
        due = clock.due_on
        casework.resume_clock(db, recipient, report, clock.clock_id, on=day + timedelta(days=3))
        assert clock.state == "running" and clock.due_on == due + timedelta(days=3)


def test_the_desk_pauses_a_clock_on_the_jurisdictions_day(app: Flask) -> None:
    from parrhesia.testing import csrf_token

    password = "a desk password long enough"
    aca = add_test_recipient(app, "example-aca", login_name="aca", password=password)
    submit_report(app.test_client(), "x", jurisdiction="example", subject="public-procurement")
    report_id = _report(app).id
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        report = db.get(Report, report_id)
        assert report is not None
        clock = next(c for c in report.clocks if c.met_by == "feedback")
        clock.pausable = True
        recipient = db.get(Recipient, aca.id)
        assert recipient is not None
        recipient.totp_last_step = 0
        secret = recipient.totp_secret or ""
        clock_id = clock.clock_id
        db.commit()
    import pyotp

    desk = app.test_client()
    token = csrf_token(desk.get("/desk/login").data)
    logged = desk.post("/desk/login", data={"csrf_token": token, "login_name": "aca", "password": password,
                                            "code": pyotp.TOTP(secret).now()})
    assert logged.status_code == 303, logged.get_data(as_text=True)[:300]
    page = desk.get(f"/desk/reports/{report_id}")
    paused = desk.post(f"/desk/reports/{report_id}/clocks/{clock_id}/pause",
                       data={"csrf_token": csrf_token(page.data), "reason": "waiting for the source"})
    assert paused.status_code == 303, paused.get_data(as_text=True)[:500]
    with Session(instance.engine) as db:
        report = db.get(Report, report_id)
        assert report is not None
        assert next(c for c in report.clocks if c.clock_id == clock_id).paused_on == _jurisdiction_day(app)


def test_casework_and_follow_ups_are_dated_on_the_jurisdictions_day(app: Flask) -> None:
    """What a recipient does to a report and what its source adds later are dated as its
    deadlines are: acknowledging, closing (which starts retention), a follow-up."""
    from parrhesia.storage.models import Part
    from parrhesia.testing import csrf_token, log_in

    aca = add_test_recipient(app, "example-aca")
    source = app.test_client()
    _, codename = submit_report(source, "x", jurisdiction="example", subject="public-procurement")
    assert codename is not None
    report_id = _report(app).id
    api = app.test_client()
    assert api.post(f"/api/v1/reports/{report_id}/acknowledge", headers=aca.headers).status_code == 200
    closed = api.post(f"/api/v1/reports/{report_id}/status", headers=aca.headers, json={"status": "closed"})
    assert closed.status_code == 200, closed.get_data(as_text=True)
    report = _report(app)
    assert report.updated_on == report.closed_on == _jurisdiction_day(app)

    log_in(source, codename)
    token = csrf_token(source.get("/report").data)
    sent = source.post("/report", data={"csrf_token": token, "message": "more"}, content_type="multipart/form-data")
    assert sent.status_code == 303, sent.get_data(as_text=True)[:300]
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        days = {p.created_on for p in db.scalars(select(Part).where(Part.report_id == report_id))}
    assert days == {_jurisdiction_day(app)}
