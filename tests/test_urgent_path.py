"""The urgent path (hook parrhesia_duty_bodies): imminent danger reaches the duty body
with an hours clock, and its recipients are notified at once."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parrhesia.ops.demo import DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.storage.models import QueuedNotification, Recipient, Report, ReportClock
from parrhesia.testing import add_test_recipient, submit_report


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return {
        "plugins": DEMO_PLUGINS,
        "bodies": [],
        "instance": DEMO_SETTINGS,
        "plugin_settings": {},
    }


class _Outbox:
    sent: list[Any] = []

    def __init__(self, host: str, port: int, timeout: int) -> None:
        pass

    def __enter__(self) -> _Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def starttls(self, context: object) -> None:
        pass

    def send_message(self, message: Any) -> None:
        _Outbox.sent.append(message)


def _with_email(app: Flask) -> None:
    folder = app.extensions["parrhesia.instance"].config.path
    config = folder / "parrhesia.toml"
    config.write_text(config.read_text() + '\n[notifications.email]\nhost = "smtp.example.org"\n')


def test_imminent_danger_reaches_the_duty_body_and_notifies_it_at_once(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    import parrhesia.contract.defaults.notify_email as notify_email
    from parrhesia.web.app import create_app

    _with_email(app)
    police = add_test_recipient(app, "example-police", name="Duty officer")
    # The prosecutor is on duty too; a body key held there lets the report reach it.
    prosecutor = add_test_recipient(app, "example-prosecutor", name="Duty prosecutor")
    aca = add_test_recipient(app, "example-aca", name="ACA officer")
    engine = app.extensions["parrhesia.instance"].engine
    with Session(engine) as db:
        db.execute(update(Recipient).values(email="desk@example.org"))
        db.execute(update(Recipient).where(Recipient.id == police.id).values(email="police@example.org"))
        db.execute(update(Recipient).where(Recipient.id == prosecutor.id).values(email="prosecutor@example.org"))
        db.commit()
    app = create_app(app.extensions["parrhesia.instance"].config.path, {"TESTING": True})  # reload the config
    monkeypatch.setattr(notify_email.smtplib, "SMTP", _Outbox)
    _Outbox.sent = []
    response, codename = submit_report(app.test_client(), "he will hurt her tonight", urgency="imminent",
                                       subject="public-procurement")
    assert response.status_code == 200 and codename
    with Session(engine) as db:
        report = db.scalars(select(Report)).one()
        route = {b.body_id for b in report.bodies if b.role == "route"}
        duty_clock = db.scalars(select(ReportClock).where(ReportClock.body_id == "example-police")).one()
        remaining = [(q.recipient_id, q.kind) for q in db.scalars(select(QueuedNotification))]
    assert {"example-police", "example-prosecutor", "example-aca"} <= route
    assert (duty_clock.due_on - report.created_on).days == 1 and duty_clock.met_by == "acknowledge"
    assert duty_clock.legal_source == "Example Police Act s.9"
    # one message to each duty body's officer, already sent; nobody else is told yet
    assert sorted(m["To"] for m in _Outbox.sent) == ["police@example.org", "prosecutor@example.org"]
    for message in _Outbox.sent:
        assert "URGENT" in message.get_content() and "hurt" not in message.get_content()
    assert (police.id, "urgent") not in remaining and (prosecutor.id, "urgent") not in remaining  # delivered
    assert (aca.id, "new-report") in remaining  # ordinary recipients wait for the batch


def test_when_the_police_are_implicated_the_prosecutor_is_on_duty(app: Flask) -> None:
    add_test_recipient(app, "example-prosecutor", name="Duty prosecutor")
    add_test_recipient(app, "example-police", name="Duty officer")  # readable, so only the conflict keeps it out
    response, _ = submit_report(app.test_client(), "danger", urgency="imminent", implicated="example-interior")
    assert response.status_code == 200
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        report = db.scalars(select(Report)).one()
        route = {b.body_id for b in report.bodies if b.role == "route"}
    assert "example-prosecutor" in route and "example-police" not in route


def test_without_danger_there_is_no_duty_body(app: Flask) -> None:
    submit_report(app.test_client(), "slow corruption", subject="public-procurement")
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        report = db.scalars(select(Report)).one()
        assert not {c.clock_id for c in report.clocks if c.clock_id.startswith("duty-")}


def test_a_duty_body_nobody_can_read_yet_waits_and_the_report_still_reaches_one_that_can(app: Flask) -> None:
    add_test_recipient(app, "example-police", name="Duty officer")  # the prosecutor has no body key
    response, _ = submit_report(app.test_client(), "danger", urgency="imminent", subject="public-procurement")
    assert response.status_code == 200
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        report = db.scalars(select(Report)).one()
        roles = {b.body_id: b.role for b in report.bodies}
        duty_clocks = {c.body_id for c in report.clocks if c.clock_id.startswith("duty-")}
    assert roles["example-police"] == "route" and roles["example-prosecutor"] == "no-key"
    assert duty_clocks == {"example-police"}  # no clock runs for a body that cannot read
