"""Notifications: queued with the report, batched, and free of content."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from plugin_fixtures import fixture_entry_points  # noqa: F401 - autouse fixture
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.storage.models import QueuedNotification, Recipient, ReportClock
from parrhesia.testing import RegisteredRecipient, SubmittedReport, add_test_recipient, log_in, submit_report


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def _set_email(app: Flask, recipient_id: int, email: str) -> None:
    with Session(_engine(app)) as db:
        db.execute(update(Recipient).where(Recipient.id == recipient_id).values(email=email))
        db.commit()


def _queued(app: Flask) -> list[tuple[int, str]]:
    with Session(_engine(app)) as db:
        return [(q.recipient_id, q.kind) for q in db.scalars(select(QueuedNotification).order_by(QueuedNotification.id))]


def _readers(app: Flask) -> dict[str, int]:
    """The standing reader the app fixture adds at each body of the route, by body."""
    with Session(_engine(app)) as db:
        return {r.body_id: r.id for r in db.scalars(select(Recipient).where(Recipient.name == "Standing reader"))}


def _configure(app: Flask, table: str) -> Path:
    folder = app.extensions["parrhesia.instance"].config.path
    config = folder / "parrhesia.toml"
    config.write_text(config.read_text() + "\n" + table)
    return folder


class _FakeSMTP:
    sent: list[Any] = []

    def __init__(self, host: str, port: int, timeout: int) -> None:
        self.host, self.port = host, port

    def __enter__(self) -> _FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def starttls(self, context: object) -> None:
        pass

    def login(self, user: str, password: str) -> None:
        pass

    def send_message(self, message: Any) -> None:
        _FakeSMTP.sent.append(message)


def test_a_new_report_queues_one_item_per_recipient_of_the_route(app: Flask, recipient: RegisteredRecipient, submitted_report: SubmittedReport) -> None:
    readers = _readers(app)
    assert sorted(readers) == ["integrity-office", "ombudsman"]  # the route: both test bodies
    other = add_test_recipient(app, "ombudsman")
    at_submission = [(readers["integrity-office"], "new-report"), (readers["ombudsman"], "new-report"),
                     (recipient.id, "new-report")]
    assert sorted(_queued(app)) == sorted(at_submission)  # other joined later
    source = app.test_client()
    log_in(source, submitted_report.codename)
    from parrhesia.testing import csrf_token

    token = csrf_token(source.get("/report").data)
    source.post("/report", data={"csrf_token": token, "message": "more"}, content_type="multipart/form-data")
    follow_up = [(readers["integrity-office"], "new-message"), (readers["ombudsman"], "new-message"),
                 (recipient.id, "new-message"), (other.id, "new-message")]
    assert sorted(_queued(app)) == sorted(at_submission + follow_up)


def test_notify_sends_one_batched_email_per_recipient_with_counts_only(
    app: Flask, recipient: RegisteredRecipient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import parrhesia.contract.defaults.notify_email as notify_email

    monkeypatch.setattr(notify_email.smtplib, "SMTP", _FakeSMTP)
    _FakeSMTP.sent = []
    _set_email(app, recipient.id, "officer@example.org")
    for text in ("first secret report", "second secret report"):
        submit_report(app.test_client(), text, subject="other")
    folder = _configure(app, '[notifications.email]\nhost = "smtp.example.org"\nsender = "desk@example.org"\n')
    result = CliRunner().invoke(main, ["notify", "--instance", str(folder)])
    assert result.exit_code == 0, result.output
    assert "1 notification(s) sent" in result.output
    (message,) = _FakeSMTP.sent
    body = message.get_content()
    assert message["To"] == "officer@example.org"
    assert "2 new report(s)" in body
    assert "secret" not in body and "secret" not in message["Subject"]
    with Session(_engine(app)) as db:
        report_ids = [r for (r,) in db.execute(select(ReportClock.report_id))]
    assert all(report_id not in body for report_id in report_ids)
    # The recipient's items went with the message; the standing readers have no
    # address, so theirs wait for a channel that reaches them.
    assert "1 notification(s) sent, 2 kept for later" in result.output
    assert sorted(_queued(app)) == sorted((r, "new-report") for r in _readers(app).values() for _ in range(2))
    again = CliRunner().invoke(main, ["notify", "--instance", str(folder)])
    assert "0 notification(s) sent" in again.output


def test_without_a_configured_channel_items_stay_queued(app: Flask, recipient: RegisteredRecipient, submitted_report: SubmittedReport) -> None:
    folder = app.extensions["parrhesia.instance"].config.path
    result = CliRunner().invoke(main, ["notify", "--instance", str(folder)])
    assert result.exit_code == 0
    readers = _readers(app)
    assert "0 notification(s) sent, 3 kept for later" in result.output  # the route's readers and the recipient
    assert sorted(_queued(app)) == sorted([(readers["integrity-office"], "new-report"),
                                           (readers["ombudsman"], "new-report"), (recipient.id, "new-report")])


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers["Content-Length"])
        _Hook.received.append((dict(self.headers), self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_gets_a_signed_content_free_payload(
    app: Flask, recipient: RegisteredRecipient, submitted_report: SubmittedReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received = []
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    try:
        folder = _configure(
            app, f'[notifications.webhook]\nurl = "http://127.0.0.1:{server.server_port}/hook"\nsecret_env = "HOOK_SECRET"\n'
        )
        result = CliRunner().invoke(main, ["notify", "--instance", str(folder)])
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    import hashlib
    import hmac

    # One payload per recipient of the route: the standing readers and the recipient.
    expected = sorted([*_readers(app).values(), recipient.id])
    assert sorted(json.loads(body)["recipient"] for _, body in _Hook.received) == expected
    for headers, body in _Hook.received:
        data = json.loads(body)
        assert data == {"instance": "Test instance", "recipient": data["recipient"], "counts": {"new-report": 1}}
        assert headers["X-Parrhesia-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert submitted_report.id not in body.decode() and submitted_report.message not in body.decode()
    assert _queued(app) == []


def test_a_failing_channel_keeps_items_and_is_recorded(app: Flask, recipient: RegisteredRecipient, submitted_report: SubmittedReport) -> None:
    folder = _configure(app, '[notifications.webhook]\nurl = "http://127.0.0.1:9/unreachable"\n')
    result = CliRunner().invoke(main, ["notify", "--instance", str(folder)])
    assert result.exit_code == 0, result.output
    assert "notify_webhook failed in parrhesia_notify" in result.output
    readers = _readers(app)
    assert sorted(_queued(app)) == sorted([(readers["integrity-office"], "new-report"),
                                           (readers["ombudsman"], "new-report"), (recipient.id, "new-report")])


def test_deadlines_about_to_expire_are_queued_once(app: Flask, recipient: RegisteredRecipient, submitted_report: SubmittedReport) -> None:
    from parrhesia.domain.notifications import queue_due_clocks
    today = date.today

    with Session(_engine(app)) as db:
        db.add(ReportClock(report_id=submitted_report.id, clock_id="ack", label="Acknowledge", legal_source="Test s.1",
                           due_on=today() + timedelta(days=7), state="running", met_by="acknowledge"))
        db.commit()
        assert queue_due_clocks(db, on=today()) == 0  # not yet within the warning window
        # one warning for each recipient of the route (the clock names no single body)
        assert queue_due_clocks(db, on=today() + timedelta(days=5)) == 3
        assert queue_due_clocks(db, on=today() + timedelta(days=6)) == 0  # warned already
    due = sorted(r for r, kind in _queued(app) if kind == "clock-due")
    assert due == sorted([*_readers(app).values(), recipient.id])


class TestAPluginChannel:
    """parrhesia_notify on a plugin (tests/fixture_plugins/outbox_plugin.py, enabled by name)."""

    @pytest.fixture
    def instance_settings(self) -> dict[str, Any]:
        return {"plugins": ["outbox"], "readers": False}  # only ``recipient`` reads

    def test_a_plugin_delivers_the_batch_only_once_it_answers_true(self, app: Flask, recipient: RegisteredRecipient) -> None:
        import outbox_plugin

        outbox_plugin.OUTBOX.clear()
        for text in ("first secret report", "second secret report"):
            submit_report(app.test_client(), text, subject="other")
        folder = app.extensions["parrhesia.instance"].config.path
        unconfigured = CliRunner().invoke(main, ["notify", "--instance", str(folder)])
        assert unconfigured.exit_code == 0, unconfigured.output
        assert "0 notification(s) sent, 1 kept for later" in unconfigured.output  # None: not handled, kept
        assert outbox_plugin.OUTBOX == [] and _queued(app) == [(recipient.id, "new-report")] * 2

        _configure(app, "[plugins.outbox]\ndeliver = true\n")
        delivered = CliRunner().invoke(main, ["notify", "--instance", str(folder)])
        assert delivered.exit_code == 0, delivered.output
        assert "1 notification(s) sent" in delivered.output
        (notification,) = outbox_plugin.OUTBOX
        assert (notification.recipient_id, notification.counts) == (recipient.id, {"new-report": 2})
        assert "secret" not in repr(notification)
        assert _queued(app) == []
