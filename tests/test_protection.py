"""Protection requests: to the competent body, never the implicated one; identity gated."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.domain import protection_requests
from parrhesia.ops.demo import DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.storage.models import ProtectionRequest, Report, ReportClock, SealedKey
from parrhesia.testing import add_test_recipient, csrf_token, log_in, submit_report


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return {"plugins": DEMO_PLUGINS, "bodies": [], "instance": DEMO_SETTINGS}


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def _source(app: Flask, **routing: str) -> Any:
    response, codename = submit_report(app.test_client(), "retaliation after my report", **routing)
    assert codename
    source = app.test_client()
    log_in(source, codename)
    return source


def _ask(source: Any, **fields: str) -> Any:
    token = csrf_token(source.get("/report").data)
    return source.post("/report/protection", data={"csrf_token": token, **fields})


def test_a_protection_request_reaches_the_protection_body_and_not_the_implicated_one(app: Flask) -> None:
    add_test_recipient(app, "example-ombudsman")
    source = _source(app, implicated="example-interior")
    response = _ask(source, measure="example-retaliation-complaint", details="demoted after reporting canary-p1")
    assert response.status_code == 303
    with Session(_engine(app)) as db:
        request = db.scalars(select(ProtectionRequest)).one()
        assert request.body_id == "example-ombudsman" and request.status == "requested"
        keys = db.scalars(select(SealedKey).where(SealedKey.part_id == request.details_part_id)).all()
        # Sealed to the ombudsman's body key, and to the report key (the source sees it).
        assert {(k.holder, k.body_key.body_id if k.body_key else None) for k in keys} == {
            ("protection", "example-ombudsman"), ("report", None)}
    page = source.get("/report").get_data(as_text=True)
    assert "Complaint about retaliation" in page and "status: requested" in page


def test_when_the_competent_body_is_implicated_the_request_goes_to_an_independent_one(app: Flask) -> None:
    add_test_recipient(app, "example-ombudsman")
    add_test_recipient(app, "example-aca")
    source = _source(app, implicated="example-ombudsman", subject="public-procurement")
    assert _ask(source, measure="example-retaliation-complaint", details="x").status_code == 303
    with Session(_engine(app)) as db:
        request = db.scalars(select(ProtectionRequest)).one()
        report = db.scalars(select(Report)).one()
        excluded = {b.body_id for b in report.bodies if b.role == "excluded"}
    assert "example-ombudsman" in excluded and request.body_id not in excluded


def test_a_claim_window_counts_from_the_date_the_source_gives(app: Flask) -> None:
    add_test_recipient(app, "example-supreme-court")
    source = _source(app)
    missing = _ask(source, measure="example-interim-relief", details="dismissed")
    assert missing.status_code == 400 and "the day you were dismissed" in missing.get_data(as_text=True)
    with Session(_engine(app)) as db:
        today = db.scalars(select(Report)).one().created_on
    dismissed = today - timedelta(days=2)
    assert _ask(source, measure="example-interim-relief", details="dismissed", from_date=dismissed.isoformat()).status_code == 303
    with Session(_engine(app)) as db:
        clock = db.scalars(select(ReportClock).where(ReportClock.clock_id.like("protection-%"))).one()
    assert clock.due_on == dismissed + timedelta(days=7) and clock.body_id == "example-supreme-court"


def test_an_identity_is_withheld_until_the_source_consents(app: Flask) -> None:
    add_test_recipient(app, "example-ombudsman")
    source = _source(app)
    _ask(source, measure="example-retaliation-complaint", details="x", identity="Ana Example, +00 123")
    with Session(_engine(app)) as db:
        request = db.scalars(select(ProtectionRequest)).one()
        assert request.identity_state == "withheld"
        assert not protection_requests.identity_readable(request, on=request.created_on)
    page = source.get("/report").get_data(as_text=True)
    assert "kept from everyone unless you agree" in page
    token = csrf_token(page)
    assert source.post(f"/report/protection/{request.id}/consent", data={"csrf_token": token}).status_code == 303
    with Session(_engine(app)) as db:
        request = db.scalars(select(ProtectionRequest)).one()
        assert protection_requests.identity_readable(request, on=request.created_on)


def test_a_custodian_decision_shows_its_reasons_to_the_source_before_it_takes_effect(app: Flask) -> None:
    add_test_recipient(app, "example-prosecutor")
    source = _source(app)
    _ask(source, measure="example-witness-protection", details="threats", identity="Ana")
    with Session(_engine(app)) as db:
        request = db.scalars(select(ProtectionRequest)).one()
        with pytest.raises(protection_requests.ProtectionError, match="written reasons"):
            protection_requests.decide_disclosure(db, request, custodian="judge-1", reason="needed", on=request.created_on)
        effective = protection_requests.decide_disclosure(
            db, request, custodian="judge-1", on=request.created_on,
            reason="The court needs to hear the witness in person to grant protection.",
        )
        assert not protection_requests.identity_readable(request, on=effective - timedelta(days=1))
        assert protection_requests.identity_readable(request, on=effective)
    page = source.get("/report").get_data(as_text=True)
    assert "The court needs to hear the witness in person" in page and effective.isoformat() in page


def test_unknown_measures_and_future_dates_are_refused(app: Flask) -> None:
    source = _source(app)
    assert _ask(source, measure="no-such-measure", details="x").status_code == 400
    with Session(_engine(app)) as db:
        today = db.scalars(select(Report)).one().created_on
    future = _ask(source, measure="example-interim-relief", details="x", from_date=(today + timedelta(days=3)).isoformat())
    assert future.status_code == 400 and "future" in future.get_data(as_text=True)
    with Session(_engine(app)) as db:
        assert db.scalars(select(ProtectionRequest)).all() == []


def test_the_competent_body_reads_the_details_and_the_identity_only_once_readable(app: Flask) -> None:
    from parrhesia.crypto import decrypt_bytes

    ombudsman = add_test_recipient(app, "example-ombudsman")
    route_body = add_test_recipient(app, "example-aca")
    source = _source(app, subject="public-procurement")
    _ask(source, measure="example-retaliation-complaint", details="demoted on 3 May", identity="Ana Example")
    client = app.test_client()
    (request,) = client.get("/api/v1/protection-requests", headers=ombudsman.headers).json["protection_requests"]
    assert request["identity"] == {"state": "withheld", "part_id": None, "sealed_key": None, "generation": None}
    blob = client.get(f"/api/v1/protection-requests/{request['id']}/parts/{request['details']['part_id']}",
                      headers=ombudsman.headers).data
    ring = ombudsman.keyring(client)  # the ombudsman's body key, opened on their machine
    key = ring.open(request["details"]["sealed_key"], request["details"]["generation"], ombudsman.key)
    assert decrypt_bytes(blob, key, request["report_id"], request["details"]["part_id"])[1] == b"demoted on 3 May"
    with Session(_engine(app)) as db:
        identity_part = db.scalars(select(ProtectionRequest)).one().identity_part_id
    assert client.get(f"/api/v1/protection-requests/{request['id']}/parts/{identity_part}",
                      headers=ombudsman.headers).status_code == 404
    # Other bodies see neither the request nor its parts, even the body holding the report.
    assert client.get("/api/v1/protection-requests", headers=route_body.headers).json == {"protection_requests": []}
    listing = client.get(f"/api/v1/reports/{request['report_id']}", headers=route_body.headers).json
    assert {p["kind"] for p in listing["parts"]} <= {"message", "attachment", "answers", "reply"}
    token = csrf_token(source.get("/report").data)
    source.post(f"/report/protection/{request['id']}/consent", data={"csrf_token": token})
    (request,) = client.get("/api/v1/protection-requests", headers=ombudsman.headers).json["protection_requests"]
    blob = client.get(f"/api/v1/protection-requests/{request['id']}/parts/{identity_part}", headers=ombudsman.headers).data
    key = ring.open(request["identity"]["sealed_key"], request["identity"]["generation"], ombudsman.key)
    assert decrypt_bytes(blob, key, request["report_id"], identity_part)[1] == b"Ana Example"
    changed = client.post(f"/api/v1/protection-requests/{request['id']}/status", json={"status": "granted"},
                          headers=ombudsman.headers)
    assert changed.status_code == 200
    assert "status: granted" in source.get("/report").get_data(as_text=True)
    refused = client.post(f"/api/v1/protection-requests/{request['id']}/status", json={"status": "granted"},
                          headers=route_body.headers)
    assert refused.status_code == 404


def test_internal_notes_never_appear_to_the_source(app: Flask) -> None:
    from parrhesia.domain import casework
    from parrhesia.storage.models import Recipient

    officer = add_test_recipient(app, "example-aca")
    source = _source(app, subject="public-procurement")
    with Session(_engine(app)) as db:
        recipient = db.get(Recipient, officer.id)
        report = db.scalars(select(Report)).one()
        casework.add_note(app.extensions["parrhesia.instance"], db, recipient, report, "internal: looks credible", on=date.today())
    page = source.get("/report").get_data(as_text=True)
    assert "Reply from a recipient" not in page and "could not be decrypted" not in page


def test_a_competent_body_with_nobody_to_read_is_passed_over_for_one_that_holds_the_report(app: Flask) -> None:
    aca = add_test_recipient(app, "example-aca")  # on the route; the supreme court has no recipient
    source = _source(app, subject="public-procurement")
    with Session(_engine(app)) as db:
        today = db.scalars(select(Report)).one().created_on
    assert _ask(source, measure="example-interim-relief", details="x", from_date=today.isoformat()).status_code == 303
    with Session(_engine(app)) as db:
        request = db.scalars(select(ProtectionRequest)).one()
    assert request.body_id == "example-aca"
    assert len(app.test_client().get("/api/v1/protection-requests", headers=aca.headers).json["protection_requests"]) == 1


def test_a_body_that_recused_loses_its_protection_requests(app: Flask) -> None:
    from parrhesia.domain import casework
    from parrhesia.storage.models import Recipient

    ombudsman = add_test_recipient(app, "example-ombudsman")
    aca = add_test_recipient(app, "example-aca")
    source = _source(app, subject="public-procurement")
    _ask(source, measure="example-retaliation-complaint", details="x", identity="Ana")
    token = csrf_token(source.get("/report").data)
    with Session(_engine(app)) as db:
        request_id = db.scalars(select(ProtectionRequest.id)).one()
    source.post(f"/report/protection/{request_id}/consent", data={"csrf_token": token})
    with Session(_engine(app)) as db:  # the ombudsman escalated to, then recused
        report = db.scalars(select(Report)).one()
        recipient = db.get(Recipient, ombudsman.id)
        from parrhesia.domain.escalation import escalate

        escalate(app.extensions["parrhesia.domain.host"], db, report, trigger="operator", actor="operator:x", on=report.created_on)
        db.commit()
        casework.recuse(app.extensions["parrhesia.domain.host"], db, recipient, casework.open_report(db, recipient, report.id), "conflict")
    client = app.test_client()
    assert client.get("/api/v1/protection-requests", headers=ombudsman.headers).json == {"protection_requests": []}
    assert client.post(f"/api/v1/protection-requests/{request_id}/status", json={"status": "granted"},
                       headers=ombudsman.headers).status_code == 404
    # Never orphaned: the request followed the report to the body that still holds it,
    # which reads its details through the report key; the identity stayed behind.
    handed = client.get("/api/v1/protection-requests", headers=aca.headers).json["protection_requests"]
    assert [(r["id"], r["identity"]["state"]) for r in handed] == [(request_id, "not-handed-on")]
    assert handed[0]["details"]["report_sealed_key"] is not None
    page = source.get("/report").get_data(as_text=True)
    assert "Anti-Corruption Agency" in page and "give it again" in page


def test_a_protection_clock_is_seen_only_by_the_body_handling_it(app: Flask) -> None:
    add_test_recipient(app, "example-supreme-court")
    aca = add_test_recipient(app, "example-aca")
    source = _source(app, subject="public-procurement")
    with Session(_engine(app)) as db:
        today = db.scalars(select(Report)).one().created_on
    _ask(source, measure="example-interim-relief", details="x", from_date=(today - timedelta(days=1)).isoformat())
    with Session(_engine(app)) as db:
        report_id = db.scalars(select(Report.id)).one()
    clocks = app.test_client().get(f"/api/v1/reports/{report_id}", headers=aca.headers).json["clocks"]
    assert not [c for c in clocks if c["id"].startswith("protection-")]
    from click.testing import CliRunner

    from parrhesia.cli import main

    listing = CliRunner().invoke(main, ["reports", "list", "--json", "--instance",
                                        str(app.extensions["parrhesia.instance"].config.path)])
    assert (today + timedelta(days=6)).isoformat() not in listing.output


def test_the_custodian_command_records_a_reasoned_decision(app: Flask) -> None:
    from click.testing import CliRunner

    from parrhesia.cli import main

    add_test_recipient(app, "example-prosecutor")
    source = _source(app)
    _ask(source, measure="example-witness-protection", details="threats", identity="Ana")
    with Session(_engine(app)) as db:
        request_id = db.scalars(select(ProtectionRequest.id)).one()
    folder = str(app.extensions["parrhesia.instance"].config.path)
    short = CliRunner().invoke(main, ["disclose", "--instance", folder, "--request", request_id, "--custodian", "judge-1",
                                      "--reason", "needed"])
    assert short.exit_code == 1 and "written reasons" in short.output
    done = CliRunner().invoke(main, ["disclose", "--instance", folder, "--request", request_id, "--custodian", "judge-1",
                                     "--reason", "The court must hear the witness in person to order protection."])
    assert done.exit_code == 0, done.output
    assert "The court must hear the witness in person" in source.get("/report").get_data(as_text=True)


def test_the_web_desk_lists_a_bodys_protection_requests_and_changes_their_status(app: Flask) -> None:
    from test_desk_web import add_desk_recipient, login, post

    ombudsman = add_desk_recipient(app, "example-ombudsman")
    aca = add_desk_recipient(app, "example-aca")
    source = _source(app, subject="public-procurement")
    _ask(source, measure="example-retaliation-complaint", details="demoted after reporting")
    with Session(_engine(app)) as db:
        request_id = db.scalars(select(ProtectionRequest.id)).one()
    desk = app.test_client()
    assert login(desk, ombudsman).status_code == 303
    page = desk.get("/desk/protection").get_data(as_text=True)
    assert "Complaint about retaliation" in page and request_id in page and "demoted" not in page  # no plaintext
    changed = post(desk, f"/desk/protection/{request_id}/status", "/desk/protection", status="in-progress")
    assert changed.status_code == 303
    assert "status: in-progress" in source.get("/report").get_data(as_text=True)
    # Another body sees nothing of it and cannot change it.
    other = app.test_client()
    assert login(other, aca).status_code == 303
    assert request_id not in other.get("/desk/protection").get_data(as_text=True)
    refused = post(other, f"/desk/protection/{request_id}/status", "/desk/protection", status="granted")
    assert refused.status_code == 404
    with Session(_engine(app)) as db:
        assert db.get(ProtectionRequest, request_id).status == "in-progress"  # type: ignore[union-attr]
