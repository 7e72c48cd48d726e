"""Casework through the JSON API and ``parrhesia desk``: each action works, is audited
under the recipient's name, and meets the report's clocks; recusal and transfer take
access away at once; notes are sealed on the recipient's machine to their body's key only;
the desk seals and vouches only to keys this machine trusts."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.crypto import (
    chain_previous_body_key,
    decode_public_key,
    decrypt_bytes,
    encode_public_key,
    encrypt_bytes,
    fingerprint,
    grant_body_key,
    new_body_key,
    seal_report_key,
)
from parrhesia.domain import custody
from parrhesia.recipient.client import DeskError, KnownKeys
from parrhesia.storage.models import AuditEntry, BodyKeyGrant, Part, Recipient, Report, ReportClock, SealedKey
from parrhesia.testing import RegisteredRecipient, SubmittedReport, add_test_recipient, install_key_manifest, log_in

ESCALATION_BODY = "audit-office"  # the recipient of last resort: on every escalation chain
OTHER_BODY = "prosecutor"  # neither on the route nor on the chain


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return {
        "bodies": [
            {"id": "integrity-office", "name": "Integrity Office", "kind": "anti-corruption agency"},
            {"id": "ombudsman", "name": "Ombudsman", "kind": "ombudsman"},
            {"id": ESCALATION_BODY, "name": "Audit Office", "kind": "audit institution"},
            {"id": OTHER_BODY, "name": "Prosecutor", "kind": "prosecutor"},
        ],
        "instance": {"route": ["integrity-office"], "last_resort": [ESCALATION_BODY]},
    }


@pytest.fixture
def colleague(app: Flask) -> RegisteredRecipient:
    return add_test_recipient(app, "integrity-office", name="Colleague")


@pytest.fixture
def auditor(app: Flask) -> RegisteredRecipient:
    return add_test_recipient(app, ESCALATION_BODY, name="Auditor")


@pytest.fixture
def prosecutor(app: Flask) -> RegisteredRecipient:
    return add_test_recipient(app, OTHER_BODY, name="Prosecutor")


@pytest.fixture
def report(colleague: RegisteredRecipient, auditor: RegisteredRecipient, prosecutor: RegisteredRecipient,
           submitted_report: SubmittedReport) -> SubmittedReport:
    """A report routed to the integrity office; every recipient above existed at submission."""
    return submitted_report


def _db(app: Flask) -> Session:
    return Session(app.extensions["parrhesia.instance"].engine)


def _audit(app: Flask, report_id: str, action: str) -> list[AuditEntry]:
    with _db(app) as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.report_id == report_id, AuditEntry.action == action)))


def _add_clock(app: Flask, report_id: str, clock_id: str, met_by: str | None, body_id: str | None = None,
               extendable_to_months: int | None = None) -> None:
    with _db(app) as db:
        db.add(ReportClock(report_id=report_id, clock_id=clock_id, label=clock_id, legal_source="Test law Art 1",
                           body_id=body_id, due_on=date.today() + timedelta(days=7), met_by=met_by, state="running",
                           extendable_to_months=extendable_to_months))
        db.commit()


def _clocks(app: Flask, report_id: str) -> dict[str, str]:
    with _db(app) as db:
        return {c.clock_id: c.state for c in db.scalars(select(ReportClock).where(ReportClock.report_id == report_id))}


def _url(report_id: str, action: str = "") -> str:
    return f"/api/v1/reports/{report_id}" + (f"/{action}" if action else "")


def _standing_reader(app: Flask, body_id: str) -> tuple[int, PrivateKey]:
    """The id and key of the body's standing reader (who created its body key)."""
    _, founder_id, founder_key = app.extensions["parrhesia.testing.body_keys"][body_id]
    return founder_id, founder_key


def _body_fingerprint(app: Flask, body_id: str) -> str:
    with _db(app) as db:
        key = custody.current_key(db, body_id)
        assert key is not None
        return fingerprint(key.public_key)


def _seal_note(client: FlaskClient, who: RegisteredRecipient, report_id: str, text: str,
               generation: int | None = None) -> dict[str, Any]:
    """What ``parrhesia desk note`` sends: the note sealed on the recipient's machine to
    the current generation of their body's key."""
    ring = who.keyring(client)
    held = ring.current if generation is None else generation
    note_key = PrivateKey.generate()
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(text.encode(), bytes(note_key.public_key), report_id, part_id, {"kind": "note"})
    return {
        "id": part_id,
        "ciphertext": base64.b64encode(blob).decode(),
        "generation": held,
        "sealed_key": base64.b64encode(seal_report_key(note_key, bytes(ring.keys[held].public_key))).decode(),
    }


def _read_note(client: FlaskClient, who: RegisteredRecipient, report_id: str, part_id: str) -> str:
    shown = client.get(_url(report_id), headers=who.headers).json
    part = next(p for p in shown["parts"] if p["id"] == part_id)
    note_key = who.keyring(client).open(part["sealed_key"], part["generation"], who.key)
    blob = client.get(f"{_url(report_id)}/parts/{part_id}", headers=who.headers).data
    meta, text = decrypt_bytes(blob, note_key, report_id, part_id)
    assert meta["kind"] == "note"
    return text.decode()


def _rotate(client: FlaskClient, who: RegisteredRecipient, keep: list[int]) -> PrivateKey:
    """What ``parrhesia desk body-key rotate`` sends: a new generation of the body key,
    made on ``who``'s machine, granted to ``who`` and to the members in ``keep``."""
    ring = who.keyring(client)
    members = {r["id"]: r for r in client.get(f"/api/v1/bodies/{ring.body_id}/recipients",
                                              headers=who.headers).json["recipients"]}
    new_sk = new_body_key()
    grants = {str(m): base64.b64encode(grant_body_key(new_sk, decode_public_key(members[m]["public_key"]),
                                                      who.key)).decode() for m in {who.id, *keep}}
    previous = chain_previous_body_key(ring.keys[ring.current], bytes(new_sk.public_key))
    response = client.post("/api/v1/body-key/rotation", headers=who.headers, json={
        "generation": ring.current, "public_key": encode_public_key(bytes(new_sk.public_key)),
        "previous_sealed": base64.b64encode(previous).decode(), "grants": grants})
    assert response.status_code == 201, response.json
    return new_sk


# ---------------------------------------------------------------------------
# Acknowledge, status, replies
# ---------------------------------------------------------------------------


def test_acknowledge_meets_the_acknowledgement_clock_and_is_audited(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, report: SubmittedReport
) -> None:
    _add_clock(app, report.id, "acknowledge-7-days", "acknowledge")
    _add_clock(app, report.id, "feedback-3-months", "feedback")
    _add_clock(app, report.id, "ombudsman-acknowledges", "acknowledge", body_id="ombudsman")

    response = client.post(_url(report.id, "acknowledge"), headers=recipient.headers)

    assert response.status_code == 200
    assert response.json["status"] == "acknowledged"
    assert _clocks(app, report.id) == {
        "acknowledge-7-days": "met", "feedback-3-months": "running", "ombudsman-acknowledges": "running"
    }
    [entry] = _audit(app, report.id, "acknowledge")
    assert entry.actor == f"recipient:{recipient.id}"
    assert json.loads(entry.detail) == {"clocks_met": ["acknowledge-7-days"]}


def test_status_change_is_audited_and_unknown_status_refused(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, report: SubmittedReport
) -> None:
    response = client.post(_url(report.id, "status"), json={"status": "investigating"}, headers=recipient.headers)
    assert response.status_code == 200
    assert response.json["status"] == "investigating"
    [entry] = _audit(app, report.id, "status")
    assert entry.actor == f"recipient:{recipient.id}"
    assert json.loads(entry.detail) == {"from": "received", "to": "investigating"}

    for body in ({"status": "buried"}, {"status": 3}, {}, [], "investigating"):
        refused = client.post(_url(report.id, "status"), json=body, headers=recipient.headers)
        assert refused.status_code == 400, body
        assert refused.is_json and refused.json["message"]
    garbage = client.post(_url(report.id, "status"), data=b"{not json", headers=recipient.headers)
    assert garbage.status_code == 400 and "JSON" in garbage.json["message"]
    assert "buried" in client.post(_url(report.id, "status"), json={"status": "buried"}, headers=recipient.headers).json["message"]
    assert len(_audit(app, report.id, "status")) == 1


def test_reply_goes_through_casework_and_feedback_meets_the_feedback_clock(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, report: SubmittedReport
) -> None:
    _add_clock(app, report.id, "feedback-3-months", "feedback")
    public_key = decode_public_key(client.get(_url(report.id), headers=recipient.headers).json["public_key"])

    def put(text: str, query: str = "") -> Any:
        part_id = secrets.token_hex(16)
        blob = encrypt_bytes(text.encode(), public_key, report.id, part_id, {"kind": "reply"})
        return client.put(f"{_url(report.id)}/replies/{part_id}{query}", data=blob, headers=recipient.headers)

    plain = put("Thank you, we are looking into it.")
    assert plain.status_code == 201 and plain.json["feedback"] is False
    assert _clocks(app, report.id) == {"feedback-3-months": "running"}
    assert put("Not a flag", "?feedback=maybe").status_code == 400

    feedback = put("We have referred the case to the prosecutor.", "?feedback=1")
    assert feedback.status_code == 201 and feedback.json["feedback"] is True
    assert _clocks(app, report.id) == {"feedback-3-months": "met"}
    entries = _audit(app, report.id, "reply")
    assert [json.loads(e.detail)["feedback"] for e in entries] == [False, True]
    assert {e.actor for e in entries} == {f"recipient:{recipient.id}"}
    assert json.loads(entries[1].detail)["clocks_met"] == ["feedback-3-months"]

    source = app.test_client()
    log_in(source, report.codename)
    assert "We have referred the case to the prosecutor." in source.get("/report").get_data(as_text=True)


def test_clock_extension_where_the_law_allows_it_is_audited(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, report: SubmittedReport
) -> None:
    _add_clock(app, report.id, "feedback-3-months", "feedback", extendable_to_months=6)
    _add_clock(app, report.id, "acknowledge-7-days", "acknowledge")
    url = f"{_url(report.id)}/clocks/feedback-3-months/extension"
    refusals = [
        (url, {"months": 7, "reason": "Complex case"}, "at most 6 months"),
        (url, {"months": "six", "reason": "Complex case"}, "whole number"),
        (url, {"months": 6, "reason": " "}, "reason"),
        (f"{_url(report.id)}/clocks/acknowledge-7-days/extension", {"months": 1, "reason": "x"}, "no extension"),
        (f"{_url(report.id)}/clocks/no-such-clock/extension", {"months": 1, "reason": "x"}, "No such running clock"),
    ]
    for path, body, words in refusals:
        response = client.post(path, json=body, headers=recipient.headers)
        assert response.status_code == 400, body
        assert words in response.json["message"], response.json

    response = client.post(url, json={"months": 6, "reason": "Complex case"}, headers=recipient.headers)

    assert response.status_code == 200
    [clock] = [c for c in response.json["clocks"] if c["id"] == "feedback-3-months"]
    assert date.fromisoformat(clock["due_on"]) > date.today() + timedelta(days=150)
    [entry] = _audit(app, report.id, "clock.extend")
    assert entry.actor == f"recipient:{recipient.id}"
    assert json.loads(entry.detail)["clock"] == "feedback-3-months"


def test_outside_competence_is_a_recusal_of_its_own_kind(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, auditor: RegisteredRecipient,
    report: SubmittedReport,
) -> None:
    assert client.post(_url(report.id, "recusal"), json={"reason": "x", "outside_competence": "yes"},
                       headers=recipient.headers).status_code == 400
    response = client.post(_url(report.id, "recusal"), json={"reason": "Tax matters", "outside_competence": True},
                           headers=recipient.headers)
    assert response.status_code == 200 and response.json["to"] == [ESCALATION_BODY]
    assert client.get(_url(report.id), headers=recipient.headers).status_code == 404
    [entry] = _audit(app, report.id, "outside-competence")
    assert entry.actor == f"recipient:{recipient.id}"
    assert _audit(app, report.id, "recusal") == []


def test_opening_a_report_and_downloading_a_part_are_audited(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, report: SubmittedReport
) -> None:
    shown = client.get(_url(report.id), headers=recipient.headers).json
    client.get(f"{_url(report.id)}/parts/{shown['parts'][0]['id']}", headers=recipient.headers)
    [opened] = _audit(app, report.id, "open")
    [downloaded] = _audit(app, report.id, "download")
    assert opened.actor == downloaded.actor == f"recipient:{recipient.id}"
    assert json.loads(downloaded.detail) == {"part": shown["parts"][0]["id"]}


# ---------------------------------------------------------------------------
# Notes
# ---------------------------------------------------------------------------


def test_note_sealed_to_the_body_key_is_readable_by_its_body_only(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, colleague: RegisteredRecipient,
    auditor: RegisteredRecipient, report: SubmittedReport,
) -> None:
    standing_id, _ = _standing_reader(app, "integrity-office")
    listed = client.get("/api/v1/bodies/integrity-office/recipients", headers=recipient.headers).json
    assert sorted(r["id"] for r in listed["recipients"]) == sorted([standing_id, recipient.id, colleague.id])
    assert all(r["holds_body_key"] for r in listed["recipients"])
    assert listed["body_key"]["generation"] == 1

    response = client.post(_url(report.id, "notes"), json=_seal_note(client, recipient, report.id, "Looks credible."),
                           headers=recipient.headers)

    assert response.status_code == 201
    note_id = response.json["id"]
    assert _read_note(client, colleague, report.id, note_id) == "Looks credible."
    assert _read_note(client, recipient, report.id, note_id) == "Looks credible."
    # A member vouched for after the note was written reads it too: it is sealed to the body.
    latecomer = add_test_recipient(app, "integrity-office", name="Latecomer")
    assert _read_note(client, latecomer, report.id, note_id) == "Looks credible."
    [entry] = _audit(app, report.id, "note")
    assert entry.actor == f"recipient:{recipient.id}"
    assert json.loads(entry.detail) == {"part": note_id}
    with _db(app) as db:
        [sealed] = db.scalars(select(SealedKey).where(SealedKey.part_id == note_id)).all()
        assert (sealed.holder, sealed.recipient_id) == ("note", None)
        assert sealed.body_key is not None and sealed.body_key.body_id == "integrity-office"
        assert db.scalar(select(Part.body_id).where(Part.id == note_id)) == "integrity-office"

    # The body that receives the report next never sees this body's notes.
    client.post(_url(report.id, "transfer"), json={"body": ESCALATION_BODY, "reason": "Their remit"},
                headers=recipient.headers)
    seen = client.get(_url(report.id), headers=auditor.headers).json
    assert note_id not in [p["id"] for p in seen["parts"]]
    assert client.get(f"{_url(report.id)}/parts/{note_id}", headers=auditor.headers).status_code == 404


def test_note_must_be_sealed_to_the_current_generation_of_the_body_key(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, colleague: RegisteredRecipient,
    report: SubmittedReport,
) -> None:
    good = _seal_note(client, recipient, report.id, "Secret")
    for generation in (2, 0, -1, "1", True, None):
        refused = client.post(_url(report.id, "notes"), json={**good, "generation": generation}, headers=recipient.headers)
        assert refused.status_code == 400, generation
        assert "generation" in refused.json["message"] or "key changed" in refused.json["message"], refused.json

    bad_requests = [
        {**good, "ciphertext": base64.b64encode(b"plain text note").decode()},
        {**good, "ciphertext": "not base64!"},
        {**good, "id": "../../etc"},
        {**good, "sealed_key": base64.b64encode(b"short").decode()},
        {**good, "sealed_key": ["nope"]},
        {**good, "sealed_key": None},
        {key: value for key, value in good.items() if key != "generation"},
    ]
    for body in bad_requests:
        response = client.post(_url(report.id, "notes"), json=body, headers=recipient.headers)
        assert response.status_code == 400, body
        assert response.is_json and response.json["message"]
    assert client.post(_url(report.id, "notes"), json=good, headers=recipient.headers).status_code == 201
    assert client.post(_url(report.id, "notes"), json=good, headers=recipient.headers).status_code == 409
    assert len(_audit(app, report.id, "note")) == 1
    blobs = app.extensions["parrhesia.instance"].blobs.root
    stored = {p.name for p in blobs.rglob("*") if p.is_file()}
    assert good["id"] in stored and len(stored) == 2  # the source's message and the one note

    # Once the body key is rotated, a note sealed to the old generation is refused.
    standing_id, _ = _standing_reader(app, "integrity-office")
    _rotate(client, recipient, keep=[standing_id, colleague.id])
    stale = _seal_note(client, recipient, report.id, "Sealed to generation 1", generation=1)
    refused = client.post(_url(report.id, "notes"), json=stale, headers=recipient.headers)
    assert refused.status_code == 400 and "key changed" in refused.json["message"]
    fresh = _seal_note(client, recipient, report.id, "Sealed to generation 2")
    assert fresh["generation"] == 2
    assert client.post(_url(report.id, "notes"), json=fresh, headers=recipient.headers).status_code == 201
    assert _read_note(client, colleague, report.id, fresh["id"]) == "Sealed to generation 2"
    assert len(_audit(app, report.id, "note")) == 2


def test_note_too_large_is_refused(client: FlaskClient, recipient: RegisteredRecipient, report: SubmittedReport) -> None:
    body = _seal_note(client, recipient, report.id, "x" * (2 * 1024 * 1024))
    response = client.post(_url(report.id, "notes"), json=body, headers=recipient.headers)
    assert response.status_code == 413 and response.is_json


# ---------------------------------------------------------------------------
# Recusal and transfer
# ---------------------------------------------------------------------------


def test_recusal_removes_access_at_once_and_moves_the_report_on(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, colleague: RegisteredRecipient,
    auditor: RegisteredRecipient, report: SubmittedReport,
) -> None:
    assert client.post(_url(report.id, "recusal"), json={"reason": " "}, headers=recipient.headers).status_code == 400

    response = client.post(_url(report.id, "recusal"), json={"reason": "The director is my brother"},
                           headers=recipient.headers)

    assert response.status_code == 200
    assert response.json == {"id": report.id, "recused": True, "to": [ESCALATION_BODY]}
    for who in (recipient, colleague):
        assert client.get(_url(report.id), headers=who.headers).status_code == 404
        assert client.get("/api/v1/reports", headers=who.headers).json == {"reports": []}
        assert client.post(_url(report.id, "acknowledge"), headers=who.headers).status_code == 404
    taken_over = client.get(_url(report.id), headers=auditor.headers).json
    assert taken_over["route"] == [ESCALATION_BODY]
    assert bytes(auditor.report_key(client, report.id).public_key) == decode_public_key(taken_over["public_key"])
    [entry] = _audit(app, report.id, "recusal")
    assert entry.actor == f"recipient:{recipient.id}"
    [escalation] = _audit(app, report.id, "escalation")
    assert (escalation.actor, escalation.body_id) == (f"recipient:{recipient.id}", ESCALATION_BODY)


def test_transfer_to_an_escalation_body_needs_no_sealed_key(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, auditor: RegisteredRecipient,
    report: SubmittedReport,
) -> None:
    response = client.post(_url(report.id, "transfer"), json={"body": ESCALATION_BODY, "reason": "Public funds"},
                           headers=recipient.headers)

    assert response.status_code == 200
    assert response.json == {"id": report.id, "transferred": True, "to": ESCALATION_BODY}
    assert client.get(_url(report.id), headers=recipient.headers).status_code == 404
    assert client.get(_url(report.id), headers=auditor.headers).json["route"] == [ESCALATION_BODY]
    [entry] = _audit(app, report.id, "transfer")
    assert entry.actor == f"recipient:{recipient.id}"
    assert json.loads(entry.detail) == {"to": ESCALATION_BODY}


def test_transfer_to_another_body_needs_the_key_sealed_to_its_body_key(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, prosecutor: RegisteredRecipient,
    report: SubmittedReport,
) -> None:
    request = {"body": OTHER_BODY, "reason": "A crime"}
    refused = client.post(_url(report.id, "transfer"), json=request, headers=recipient.headers)
    assert refused.status_code == 400
    assert "parrhesia desk transfer" in refused.json["message"]
    assert client.get(_url(report.id), headers=recipient.headers).status_code == 200
    assert client.get(_url(report.id), headers=prosecutor.headers).status_code == 404

    report_key = recipient.report_key(client, report.id)
    target = client.get(f"/api/v1/bodies/{OTHER_BODY}/recipients", headers=recipient.headers).json
    assert [r["id"] for r in target["recipients"]] == [prosecutor.id]
    body_key = target["body_key"]
    assert body_key["fingerprint"] == _body_fingerprint(app, OTHER_BODY)
    sealed = base64.b64encode(seal_report_key(report_key, decode_public_key(body_key["public_key"]))).decode()
    stale = client.post(_url(report.id, "transfer"), headers=recipient.headers,
                        json={**request, "sealed_key": sealed, "generation": body_key["generation"] + 1})
    assert stale.status_code == 400 and "key changed" in stale.json["message"]
    assert client.get(_url(report.id), headers=prosecutor.headers).status_code == 404

    response = client.post(_url(report.id, "transfer"), headers=recipient.headers,
                           json={**request, "sealed_key": sealed, "generation": body_key["generation"]})

    assert response.status_code == 200
    assert bytes(prosecutor.report_key(client, report.id).public_key) == bytes(report_key.public_key)
    # A member vouched for at the prosecutor's later reads it too.
    newcomer = add_test_recipient(app, OTHER_BODY, name="Second prosecutor")
    assert bytes(newcomer.report_key(client, report.id).public_key) == bytes(report_key.public_key)
    assert client.get(_url(report.id), headers=recipient.headers).status_code == 404


def test_transfer_refusals_are_clear_json(client: FlaskClient, recipient: RegisteredRecipient, report: SubmittedReport) -> None:
    eighty = base64.b64encode(bytes(80)).decode()
    cases = [
        ({"body": "nowhere", "reason": "x"}, 400, "No body"),
        ({"body": "integrity-office", "reason": "x"}, 400, "already has"),
        ({"body": ESCALATION_BODY, "reason": ""}, 400, "reason"),
        ({"body": ESCALATION_BODY}, 400, "reason"),
        ({"reason": "x"}, 400, "body"),
        ({"body": ESCALATION_BODY, "reason": "x", "sealed_key": 5}, 400, "sealed_key"),
        ({"body": ESCALATION_BODY, "reason": "x", "sealed_key": "%%%"}, 400, "base64"),
        ({"body": ESCALATION_BODY, "reason": "x", "sealed_key": base64.b64encode(b"short").decode()}, 400, "sealed key"),
        ({"body": ESCALATION_BODY, "reason": "x", "sealed_key": eighty}, 400, "generation"),
        ({"body": ESCALATION_BODY, "reason": "x", "sealed_key": eighty, "generation": "1"}, 400, "generation"),
        # A body none of whose members holds a key: nobody there could read the report.
        ({"body": "ombudsman", "reason": "x"}, 400, "no key"),
        ({"body": "ombudsman", "reason": "x", "sealed_key": eighty, "generation": 1}, 400, "no key"),
    ]
    for body, code, words in cases:
        response = client.post(_url(report.id, "transfer"), json=body, headers=recipient.headers)
        assert response.status_code == code, body
        assert words in response.json["message"], (body, response.json)
    assert client.get(_url(report.id), headers=recipient.headers).json["route"] == ["integrity-office"]


def test_unknown_body_has_no_recipients_list(client: FlaskClient, recipient: RegisteredRecipient) -> None:
    response = client.get("/api/v1/bodies/nowhere/recipients", headers=recipient.headers)
    assert response.status_code == 404 and response.is_json


# ---------------------------------------------------------------------------
# The command line, against a real HTTP server
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def known_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own file of trusted keys (never the user's ~/.config)."""
    path = tmp_path / "known-keys.json"
    monkeypatch.setenv("PARRHESIA_KNOWN_KEYS", str(path))
    return path


def desk(server: str, who: RegisteredRecipient, command: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["desk", command, "--server", server, "--token", who.token, *args])


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_desk_commands_do_the_casework_end_to_end(
    app: Flask, server: str, tmp_path: Path, recipient: RegisteredRecipient, colleague: RegisteredRecipient,
    report: SubmittedReport,
) -> None:
    _add_clock(app, report.id, "acknowledge-7-days", "acknowledge")
    _add_clock(app, report.id, "feedback-3-months", "feedback")
    on = ["--report", report.id]

    assert "Clocks met: acknowledge-7-days" in _ok(desk(server, recipient, "ack", *on))
    assert f"Report {report.id} is now assessing." in _ok(desk(server, recipient, "status", *on, "--status", "assessing"))
    assert "Note " in _ok(desk(server, recipient, "note", *on, "--message", "Call the auditor on Monday.",
                               *recipient.key_file_args(tmp_path)))
    _add_clock(app, report.id, "decision-3-months", None, extendable_to_months=6)
    assert "Clock decision-3-months of report" in _ok(
        desk(server, recipient, "extend", *on, "--clock", "decision-3-months", "--months", "6", "--reason", "Complex"))
    assert "Reply " in _ok(desk(server, recipient, "reply", *on, "--message", "Thank you.", "--feedback"))
    assert _clocks(app, report.id) == {"acknowledge-7-days": "met", "feedback-3-months": "met", "decision-3-months": "running"}
    actions = ("acknowledge", "status", "note", "clock.extend", "reply")
    assert all(_audit(app, report.id, action) for action in actions)
    actors = {e.actor for action in actions for e in _audit(app, report.id, action)}
    assert actors == {f"recipient:{recipient.id}"}

    out = tmp_path / "reports"
    pulled = _ok(desk(server, colleague, "pull", *colleague.key_file_args(tmp_path), "--out", str(out)))
    assert "1 report(s), 3 new file(s)" in pulled
    folder = out / report.id
    assert (folder / "001-message.txt").read_text() == report.message
    assert (folder / "002-note.txt").read_text() == "Call the auditor on Monday."
    assert (folder / "003-reply.txt").read_text() == "Thank you."
    assert "0 new file(s)" in _ok(desk(server, colleague, "pull", *colleague.key_file_args(tmp_path), "--out", str(out)))


def test_desk_pull_gives_a_latecomer_the_notes_written_before_they_joined(
    app: Flask, server: str, tmp_path: Path, recipient: RegisteredRecipient, colleague: RegisteredRecipient,
    report: SubmittedReport,
) -> None:
    _ok(desk(server, recipient, "note", "--report", report.id, "--message", "Before you joined.",
             *recipient.key_file_args(tmp_path)))
    latecomer = add_test_recipient(app, "integrity-office", name="Latecomer")  # vouched for by a member
    result = desk(server, latecomer, "pull", *latecomer.key_file_args(tmp_path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "1 report(s), 2 new file(s)" in result.output
    assert "do not hold" not in result.output
    assert (tmp_path / "out" / report.id / "001-message.txt").read_text() == report.message
    assert (tmp_path / "out" / report.id / "002-note.txt").read_text() == "Before you joined."


def test_desk_pull_tells_a_member_left_out_of_a_rotation_which_notes_are_not_theirs(
    app: Flask, server: str, tmp_path: Path, recipient: RegisteredRecipient, colleague: RegisteredRecipient,
    report: SubmittedReport,
) -> None:
    _ok(desk(server, recipient, "note", "--report", report.id, "--message", "Before the rotation.",
             *recipient.key_file_args(tmp_path)))
    _, standing_key = _standing_reader(app, "integrity-office")
    rotated = _ok(CliRunner().invoke(main, [
        "desk", "body-key", "rotate", "--server", server, "--token", recipient.token, *recipient.key_file_args(tmp_path),
        "--drop", str(colleague.id), "--trust", fingerprint(bytes(standing_key.public_key))]))
    assert _body_fingerprint(app, "integrity-office") in rotated
    _ok(desk(server, recipient, "note", "--report", report.id, "--message", "After the rotation.",
             *recipient.key_file_args(tmp_path)))
    with _db(app) as db:
        current = custody.current_key(db, "integrity-office")
        assert current is not None and current.generation == 2
        assert custody.grant_of(db, current, colleague.id) is None

    out = tmp_path / "out"
    result = desk(server, colleague, "pull", *colleague.key_file_args(tmp_path), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "sealed to a generation of your body's key you do not hold" in result.output
    assert (out / report.id / "001-message.txt").read_text() == report.message  # sealed at submission, generation 1
    assert (out / report.id / "002-note.txt").read_text() == "Before the rotation."
    assert not (out / report.id / "003-note.txt").exists()
    again = desk(server, colleague, "pull", *colleague.key_file_args(tmp_path), "--out", str(out))
    assert "0 new file(s)" in again.output and "do not hold" not in again.output  # reported once, remembered

    # The member who rotated reads both notes, the older through the chained generation.
    mine = tmp_path / "mine"
    _ok(desk(server, recipient, "pull", *recipient.key_file_args(tmp_path), "--out", str(mine)))
    notes = sorted(p.read_text() for p in (mine / report.id).glob("*-note.txt"))
    assert notes == ["After the rotation.", "Before the rotation."]


def test_desk_recuse_and_transfer_hand_the_report_on(
    app: Flask, server: str, tmp_path: Path, recipient: RegisteredRecipient, prosecutor: RegisteredRecipient,
    auditor: RegisteredRecipient, report: SubmittedReport,
) -> None:
    moved = _ok(desk(server, recipient, "transfer", "--report", report.id, "--to", OTHER_BODY, "--reason", "A crime",
                     *recipient.key_file_args(tmp_path), "--trust", _body_fingerprint(app, OTHER_BODY)))
    assert f"transferred to {OTHER_BODY}" in moved
    with _db(app) as db:
        assert db.get(Recipient, prosecutor.id) is not None
    out = tmp_path / "prosecutor"
    assert "1 report(s), 1 new file(s)" in _ok(
        desk(server, prosecutor, "pull", *prosecutor.key_file_args(tmp_path), "--out", str(out)))
    assert (out / report.id / "001-message.txt").read_text() == report.message

    recused = _ok(desk(server, prosecutor, "recuse", "--report", report.id, "--reason", "Our own officers",
                       "--outside-competence"))
    assert ESCALATION_BODY in recused
    assert "No such report for your body" in desk(server, prosecutor, "ack", "--report", report.id).output
    assert [e.actor for e in _audit(app, report.id, "transfer")] == [f"recipient:{recipient.id}"]
    assert [e.actor for e in _audit(app, report.id, "outside-competence")] == [f"recipient:{prosecutor.id}"]


def _fingerprint(who: RegisteredRecipient) -> str:
    return fingerprint(bytes(who.key.public_key))


def _trusting(*who: RegisteredRecipient) -> list[str]:
    """``--trust FINGERPRINT`` for each of these recipients' keys (as confirmed out of band)."""
    return [arg for person in who for arg in ("--trust", _fingerprint(person))]


def _swap_key(app: Flask, who: RegisteredRecipient) -> str:
    """Play a lying server: list another key for this recipient; return its fingerprint."""
    impostor = bytes(PrivateKey.generate().public_key)
    with _db(app) as db:
        db.get(Recipient, who.id).public_key = impostor  # type: ignore[union-attr]
        db.commit()
    return fingerprint(impostor)


def _swap_body_key(app: Flask, body_id: str, member: RegisteredRecipient | None = None) -> str:
    """Play a lying server: list another key for this body (and, for ``member``, a grant
    of it from a voucher the server made up, which opens); return its fingerprint."""
    impostor_sk, voucher_sk = PrivateKey.generate(), PrivateKey.generate()
    with _db(app) as db:
        key = custody.current_key(db, body_id)
        assert key is not None
        key.public_key = bytes(impostor_sk.public_key)
        if member is not None:
            voucher = Recipient(body_id=body_id, name="Made up", public_key=bytes(voucher_sk.public_key),
                                token_hash=secrets.token_bytes(32), created_on=date.today())
            db.add(voucher)
            db.flush()
            grant = custody.grant_of(db, key, member.id)
            assert grant is not None
            grant.boxed = grant_body_key(impostor_sk, bytes(member.key.public_key), voucher_sk)
            grant.vouched_by = voucher.id
        db.commit()
    return fingerprint(bytes(impostor_sk.public_key))


def _grants(app: Flask, who: RegisteredRecipient) -> list[BodyKeyGrant]:
    with _db(app) as db:
        return list(db.scalars(select(BodyKeyGrant).where(BodyKeyGrant.recipient_id == who.id)))


def _trusted(known_keys: Path) -> dict[str, str]:
    """Everything this machine's file of trusted keys holds, for every server."""
    if not known_keys.exists():
        return {}
    servers = json.loads(known_keys.read_text())["servers"]
    return {name: value for keys in servers.values() for name, value in keys.items()}


def test_desk_seals_notes_only_to_the_body_key_this_machine_pinned(
    app: Flask, server: str, tmp_path: Path, known_keys: Path, recipient: RegisteredRecipient,
    colleague: RegisteredRecipient, report: SubmittedReport,
) -> None:
    on = ["--report", report.id, "--message", "Call the auditor.", *recipient.key_file_args(tmp_path)]
    real = _body_fingerprint(app, "integrity-office")

    assert "Note " in _ok(desk(server, recipient, "note", *on))
    assert _trusted(known_keys) == {"body:integrity-office": real}  # pinned at first use
    assert known_keys.stat().st_mode & 0o777 == 0o600

    impostor = _swap_body_key(app, "integrity-office", recipient)
    refused = desk(server, recipient, "note", *on)
    assert refused.exit_code == 1
    assert "does not descend" in refused.output and impostor in refused.output and real in refused.output
    assert len(_audit(app, report.id, "note")) == 1
    assert _trusted(known_keys) == {"body:integrity-office": real}
    pulled = desk(server, recipient, "pull", *recipient.key_file_args(tmp_path), "--out", str(tmp_path / "out"))
    assert pulled.exit_code == 1 and "does not descend" in pulled.output


def test_desk_refuses_a_grant_it_cannot_verify(
    app: Flask, server: str, tmp_path: Path, known_keys: Path, recipient: RegisteredRecipient, report: SubmittedReport,
) -> None:
    """Without a pin yet, the body key is still only what a real member vouched for."""
    with _db(app) as db:
        key = custody.current_key(db, "integrity-office")
        grant = custody.grant_of(db, key, recipient.id)  # type: ignore[arg-type]
        grant.boxed = bytes(len(grant.boxed))  # type: ignore[union-attr]
        db.commit()
    refused = desk(server, recipient, "note", "--report", report.id, "--message", "x", *recipient.key_file_args(tmp_path))
    assert refused.exit_code == 1 and "cannot be trusted" in refused.output
    assert _audit(app, report.id, "note") == []
    assert _trusted(known_keys) == {}


def test_desk_vouches_only_for_keys_this_machine_trusts(
    app: Flask, server: str, tmp_path: Path, known_keys: Path, recipient: RegisteredRecipient,
    report: SubmittedReport,
) -> None:
    newcomer = add_test_recipient(app, "integrity-office", name="Newcomer", vouched=False)
    out = tmp_path / "newcomer"
    cannot = desk(server, newcomer, "pull", *newcomer.key_file_args(tmp_path), "--out", str(out))
    assert cannot.exit_code == 1 and "no grant" in cannot.output
    vouch = ["--recipient", str(newcomer.id), *recipient.key_file_args(tmp_path)]

    refused = desk(server, recipient, "vouch", *vouch)
    assert refused.exit_code == 1
    assert "new to this machine" in refused.output and _fingerprint(newcomer) in refused.output
    assert "Nothing was sealed or sent" in refused.output
    assert _grants(app, newcomer) == []

    listing = _ok(desk(server, recipient, "keys"))
    assert f"{_fingerprint(newcomer)}  new" in listing and "Newcomer" in listing
    impostor = _swap_key(app, newcomer)
    old = _trusting(newcomer)  # the fingerprint confirmed with the newcomer does not let another key in
    for attempt in (desk(server, recipient, "vouch", *vouch), desk(server, recipient, "vouch", *vouch, *old)):
        assert attempt.exit_code == 1
        assert "new to this machine" in attempt.output and impostor in attempt.output, attempt.output
    assert _grants(app, newcomer) == []
    with _db(app) as db:
        db.get(Recipient, newcomer.id).public_key = bytes(newcomer.key.public_key)  # type: ignore[union-attr]
        db.commit()

    assert "You vouched for recipient" in _ok(desk(server, recipient, "vouch", *vouch, *old))
    assert _trusted(known_keys)[str(newcomer.id)] == _fingerprint(newcomer)
    assert "1 report(s), 1 new file(s)" in _ok(
        desk(server, newcomer, "pull", *newcomer.key_file_args(tmp_path), "--out", str(out)))
    assert (out / report.id / "001-message.txt").read_text() == report.message

    # Once trusted, a key the server swaps in later is refused as a different key.
    impostor = _swap_key(app, newcomer)
    assert f"{impostor}  CHANGED" in _ok(desk(server, recipient, "keys"))


def test_desk_transfer_refuses_a_body_key_the_server_swapped(
    app: Flask, server: str, tmp_path: Path, known_keys: Path, recipient: RegisteredRecipient,
    prosecutor: RegisteredRecipient, report: SubmittedReport,
) -> None:
    real = _body_fingerprint(app, OTHER_BODY)
    transfer = ["--report", report.id, "--to", OTHER_BODY, "--reason", "A crime", *recipient.key_file_args(tmp_path)]
    unconfirmed = desk(server, recipient, "transfer", *transfer)
    assert unconfirmed.exit_code == 1 and "is new to this machine" in unconfirmed.output and real in unconfirmed.output
    KnownKeys(known_keys).pin_body_key(server, OTHER_BODY, real)  # confirmed with the prosecutor before
    impostor = _swap_body_key(app, OTHER_BODY)

    for attempt in (desk(server, recipient, "transfer", *transfer), desk(server, recipient, "transfer", *transfer,
                                                                         "--trust", real)):
        assert attempt.exit_code == 1
        assert "differs from the one trusted before" in attempt.output and impostor in attempt.output, attempt.output
        assert "Nothing was sealed or sent" in attempt.output
    assert _audit(app, report.id, "transfer") == []
    with _db(app) as db:
        assert custody.holding_bodies(db, db.get(Report, report.id)) == {"integrity-office", ESCALATION_BODY}  # type: ignore[arg-type]
    assert _trusted(known_keys)[f"body:{OTHER_BODY}"] == real


def test_desk_trusts_a_new_key_only_by_the_fingerprint_confirmed(
    app: Flask, server: str, tmp_path: Path, known_keys: Path, recipient: RegisteredRecipient,
    prosecutor: RegisteredRecipient, report: SubmittedReport,
) -> None:
    """The fingerprint a recipient confirmed is what gets trusted, not whatever the server lists next."""
    newcomer = add_test_recipient(app, "integrity-office", name="Newcomer", vouched=False)
    vouch = ["--recipient", str(newcomer.id), *recipient.key_file_args(tmp_path)]
    shown = desk(server, recipient, "vouch", *vouch)
    assert shown.exit_code == 1 and _fingerprint(newcomer) in shown.output
    impostor = _swap_key(app, newcomer)  # the server lists another key on the retry

    retried = desk(server, recipient, "vouch", *vouch, *_trusting(newcomer))

    assert retried.exit_code == 1
    assert "new to this machine" in retried.output and impostor in retried.output
    assert _grants(app, newcomer) == []
    assert str(newcomer.id) not in _trusted(known_keys)  # no recipient's key was trusted

    # The same for a body's key sealed to in a transfer.
    transfer = ["--report", report.id, "--to", OTHER_BODY, "--reason", "A crime", *recipient.key_file_args(tmp_path)]
    real = _body_fingerprint(app, OTHER_BODY)
    assert real in desk(server, recipient, "transfer", *transfer).output
    impostor = _swap_body_key(app, OTHER_BODY)
    moved = desk(server, recipient, "transfer", *transfer, "--trust", real)
    assert moved.exit_code == 1 and "is new to this machine" in moved.output and impostor in moved.output
    assert _audit(app, report.id, "transfer") == []
    assert f"body:{OTHER_BODY}" not in _trusted(known_keys)


def test_a_lying_list_of_recipients_is_refused(tmp_path: Path, recipient: RegisteredRecipient) -> None:
    key = {"public_key": encode_public_key(bytes(recipient.key.public_key)), "name": "x"}
    known = KnownKeys(tmp_path / "known-keys.json")
    for listed in ([{**key, "id": 3}, {**key, "id": 3}], [{**key, "id": "3"}], [{**key, "id": True}], [key]):
        with pytest.raises(DeskError, match="missing or repeated id"):
            known.check("http://server", listed, [fingerprint(bytes(recipient.key.public_key))])
    assert not (tmp_path / "known-keys.json").exists()


def test_desk_keys_fails_with_one_clear_line(server: str, recipient: RegisteredRecipient) -> None:
    result = desk("ftp://example.org", recipient, "keys")

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.output.startswith("Error: ") and "http://" in result.output


def test_desk_keys_trusts_only_fingerprints_it_lists(
    server: str, known_keys: Path, recipient: RegisteredRecipient, report: SubmittedReport
) -> None:
    result = desk(server, recipient, "keys", "--trust", "0000 1111 2222 3333 4444 5555 6666 7777 8888 9999")

    assert result.exit_code == 1
    assert "nothing was trusted" in result.output
    assert not known_keys.exists()


@pytest.mark.parametrize("text", ["{not json", '{"version": 99, "servers": {}}', '{"version": 1, "servers": {"x": 3}}'])
def test_an_unreadable_file_of_trusted_keys_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "known-keys.json"
    path.write_text(text)

    with pytest.raises(DeskError, match="known-keys.json"):
        KnownKeys(path)


def test_desk_commands_fail_with_one_clear_line(
    server: str, tmp_path: Path, recipient: RegisteredRecipient, report: SubmittedReport
) -> None:
    wrong_token = RegisteredRecipient(recipient.id, recipient.body_id, recipient.key, "not-a-token")
    failures = [
        (desk(server, wrong_token, "ack", "--report", report.id), "401"),
        (desk(server, recipient, "ack", "--report", "0" * 32), "No such report for your body"),
        (desk(server, recipient, "status", "--report", report.id, "--status", "buried"), "Unknown status"),
        (desk(server, recipient, "note", "--report", report.id, "--message", "  ", *recipient.key_file_args(tmp_path)),
         "The note is empty"),
        (desk(server, recipient, "recuse", "--report", report.id, "--reason", ""), "Give a reason"),
        (desk(server, recipient, "transfer", "--report", report.id, "--to", "nowhere", "--reason", "x",
              *recipient.key_file_args(tmp_path)), "404"),
        (desk("http://127.0.0.1:9", recipient, "ack", "--report", report.id), "Cannot reach"),
        (desk("ftp://example.org", recipient, "ack", "--report", report.id), "http://"),
    ]
    for result, words in failures:
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), result.exception  # a ClickException, no traceback
        assert result.output.startswith("Error: ") and words in result.output, result.output


def test_desk_pull_of_tampered_ciphertext_fails_clearly_and_writes_no_plaintext(
    app: Flask, server: str, tmp_path: Path, recipient: RegisteredRecipient, report: SubmittedReport
) -> None:
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        blob = db.scalars(select(Part.blob).where(Part.report_id == report.id)).first()
    assert blob is not None
    path = app.extensions["parrhesia.instance"].blobs.path_for(blob)
    data = bytearray(path.read_bytes())
    data[200] ^= 0x01  # one bit, inside the first ciphertext chunk
    path.write_bytes(bytes(data))
    out = tmp_path / "pulled"
    result = desk(server, recipient, "pull", *recipient.key_file_args(tmp_path), "--out", str(out))
    assert result.exit_code == 1
    assert "damaged or was tampered with" in result.output and "Traceback" not in result.output
    leftovers = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".parrhesia")]
    assert leftovers == []


def test_desk_pause_stops_and_resume_restarts_a_pausable_clock(
    app: Flask, server: str, recipient: RegisteredRecipient, report: SubmittedReport
) -> None:
    with _db(app) as db:
        db.add(ReportClock(report_id=report.id, clock_id="reflection", label="Reflection period", legal_source="CETS 197 Art 13",
                           due_on=date.today() + timedelta(days=30), state="running", pausable=True))
        db.commit()
    _add_clock(app, report.id, "fixed", None)
    on = ["--report", report.id, "--clock", "reflection"]
    assert "is paused" in _ok(desk(server, recipient, "pause", *on, "--reason", "the source asked for time"))
    assert "is running" in _ok(desk(server, recipient, "pause", *on, "--resume"))
    refused = desk(server, recipient, "pause", "--report", report.id, "--clock", "fixed", "--reason", "x")
    assert refused.exit_code == 1 and "does not allow" in refused.output
    missing = desk(server, recipient, "pause", *on)
    assert missing.exit_code == 1 and "reason" in missing.output


@pytest.mark.parametrize("body", ['{"body": "x", "reason": "r", "sealed_key": "²", "generation": 1}',
                                  '{"body": "x", "reason": "r", "sealed_key": "AA==", "generation": 1e999}',
                                  "[" * 100000])
def test_odd_json_is_a_clear_400_not_a_500(
    client: FlaskClient, recipient: RegisteredRecipient, report: SubmittedReport, body: str
) -> None:
    response = client.post(f"/api/v1/reports/{report.id}/transfer", data=body, headers={
        **recipient.headers, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.is_json


def test_a_report_marked_as_junk_stops_its_clocks_and_its_source_may_escalate_at_once(
    app: Flask, client: FlaskClient, colleague: RegisteredRecipient, prosecutor: RegisteredRecipient,
    report: SubmittedReport,
) -> None:
    from parrhesia.domain import access
    from parrhesia.testing import csrf_token

    _add_clock(app, report.id, "ack", "acknowledge", body_id="integrity-office")
    _add_clock(app, report.id, "fb", "feedback")
    before = _clocks(app, report.id)
    refused = client.post(_url(report.id, "junk"), json={"reason": "  "}, headers=colleague.headers)
    assert refused.status_code == 400 and _clocks(app, report.id) == before
    # Another body's recipient cannot even see it.
    assert client.post(_url(report.id, "junk"), json={"reason": "x"}, headers=prosecutor.headers).status_code == 404
    marked = client.post(_url(report.id, "junk"), json={"reason": "One of 2,000 identical reports"},
                         headers=colleague.headers)
    assert marked.status_code == 200 and marked.get_json()["status"] == "junk"
    assert {k: v for k, v in _clocks(app, report.id).items() if k in ("ack", "fb")} == {"ack": "stopped", "fb": "stopped"}
    [entry] = _audit(app, report.id, "junk")
    assert sorted(json.loads(entry.detail)["clocks_stopped"]) >= ["ack", "fb"]
    assert client.post(_url(report.id, "junk"), json={"reason": "again"}, headers=colleague.headers).status_code == 400
    # The source is told, and may ask an independent body at once, even for missing feedback.
    source = app.test_client()
    log_in(source, report.codename)
    page = source.get("/report").get_data(as_text=True)
    assert 'id="junk-notice"' in page
    asked = source.post("/report/escalate", data={"csrf_token": csrf_token(page), "reason": "no-feedback"})
    assert asked.status_code in (200, 303)
    with _db(app) as db:
        stored = db.get(Report, report.id)
        assert stored is not None
        assert ESCALATION_BODY in access.route_of(stored) and stored.status == "received"


def test_another_status_restarts_the_clocks_a_junk_mark_stopped(
    app: Flask, client: FlaskClient, colleague: RegisteredRecipient, report: SubmittedReport
) -> None:
    _add_clock(app, report.id, "fb", "feedback", body_id="integrity-office")
    assert client.post(_url(report.id, "junk"), json={"reason": "looked like junk"},
                       headers=colleague.headers).status_code == 200
    with _db(app) as db:
        clock = db.scalars(select(ReportClock).where(ReportClock.report_id == report.id,
                                                     ReportClock.clock_id == "fb")).one()
        assert clock.paused_on is not None
        clock.paused_on -= timedelta(days=3)  # it stood for three days
        due = clock.due_on
        db.commit()
    response = client.post(_url(report.id, "status"), json={"status": "assessing"}, headers=colleague.headers)
    assert response.status_code == 200
    with _db(app) as db:
        clock = db.scalars(select(ReportClock).where(ReportClock.report_id == report.id,
                                                     ReportClock.clock_id == "fb")).one()
        assert (clock.state, clock.due_on) == ("running", due + timedelta(days=3))
    status_entry = _audit(app, report.id, "status")[-1]
    assert "fb" in json.loads(status_entry.detail)["clocks_restarted"]


def test_desk_transfer_trusts_the_key_manifest_once_and_refuses_a_key_it_does_not_list(
    app: Flask, server: str, tmp_path: Path, known_keys: Path, recipient: RegisteredRecipient,
    prosecutor: RegisteredRecipient, report: SubmittedReport,
) -> None:
    from parrhesia.crypto.manifest import manifest_signing_key, read_manifest, sign_manifest, unsigned_manifest
    from parrhesia.domain import key_manifest

    secret, signed = install_key_manifest(app)
    manifest_fp = read_manifest(signed).manifest_fingerprint
    body_fp = _body_fingerprint(app, OTHER_BODY)
    transfer = ["--report", report.id, "--to", OTHER_BODY, "--reason", "A crime", *recipient.key_file_args(tmp_path)]
    new = desk(server, recipient, "transfer", *transfer, "--trust", body_fp)
    assert new.exit_code == 1 and f"manifest key {manifest_fp}, which is new to this machine" in new.output, new.output
    assert _audit(app, report.id, "transfer") == []

    # A manifest that leaves the prosecutor's key out, signed by the trusted manifest key.
    facts = read_manifest(signed).facts
    partial = type(facts)(facts.instance, facts.issued, facts.instance_signing_key,
                          tuple(b for b in facts.bodies if b.body_id != OTHER_BODY), facts.recipients)
    signer = manifest_signing_key(secret)
    path = app.extensions["parrhesia.instance"].config.path / key_manifest.MANIFEST_FILE
    path.write_bytes(sign_manifest(unsigned_manifest(partial, bytes(signer.verify_key)), signer))
    unlisted = desk(server, recipient, "transfer", *transfer, "--trust", body_fp, "--trust", manifest_fp)
    assert unlisted.exit_code == 1 and "is not the one its signed key manifest" in unlisted.output, unlisted.output
    assert _audit(app, report.id, "transfer") == []
    assert _trusted(known_keys)["manifest-key"] == manifest_fp

    path.write_bytes(signed)
    moved = desk(server, recipient, "transfer", *transfer, "--trust", body_fp)
    assert moved.exit_code == 0 and f"transferred to {OTHER_BODY}" in moved.output, moved.output
