"""``parrhesia desk intake`` (issue 11 item 1): a recipient files a report for a person
present or on the telephone, sealed on the officer's machine.

The report is routed as a source's is and reaches its bodies, which decrypt it; nothing
readable (content, file name, codename) is at rest on the server; the person logs in
with the codename on their slip and reads the report and the replies; when the
officer's own body is implicated the report goes elsewhere and the officer can read
nothing of it; the report records that it was taken in person and by which body,
never by whom unless the person agreed.
"""

from __future__ import annotations

import json
import re
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.crypto import derive_source_identity, encode_public_key, fingerprint
from parrhesia.domain import custody
from parrhesia.domain.accounts import utcnow
from parrhesia.domain.reports import find_by_lookup, token_hash
from parrhesia.recipient.client import DeskClient, DeskError, KnownKeys
from parrhesia.recipient.client import intake as file_intake
from parrhesia.storage.models import AuditEntry, BodyKey, DeskSession, Report, SealedKey
from parrhesia.testing import RegisteredRecipient, add_test_recipient, log_in

OFFICE, OMBUDSMAN = "integrity-office", "ombudsman"


@pytest.fixture(autouse=True)
def known_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The machines' own file of trusted keys (never the user's home)."""
    path = tmp_path / "known-keys.json"
    monkeypatch.setenv("PARRHESIA_KNOWN_KEYS", str(path))
    return path


@pytest.fixture
def officer(app: Flask) -> RegisteredRecipient:
    """A case officer of the Integrity Office who holds its body key."""
    return add_test_recipient(app, OFFICE, "Intake officer")


@pytest.fixture
def ombudsman(app: Flask) -> RegisteredRecipient:
    """A recipient of the Ombudsman who holds its body key."""
    return add_test_recipient(app, OMBUDSMAN, "Ombudsman reader")


def _canary() -> str:
    return "CANARY" + secrets.token_hex(12)


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def _fingerprint(app: Flask, body_id: str) -> str:
    with Session(_engine(app)) as db:
        key = custody.current_key(db, body_id)
        assert key is not None
        return fingerprint(key.public_key)


def _intake(server: str, officer: RegisteredRecipient, tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["desk", "intake", "--server", server, "--token", officer.token,
                                     *officer.key_file_args(tmp_path), "--yes", *args])


def _pull(server: str, who: RegisteredRecipient, tmp_path: Path, out: Path) -> Result:
    return CliRunner().invoke(main, ["desk", "pull", "--server", server, "--token", who.token,
                                     *who.key_file_args(tmp_path), "--out", str(out)])


def _codename(slip: Path) -> str:
    match = re.search(r"Your codename:\n\n    ([a-z -]+)\n", slip.read_text(encoding="utf-8"))
    assert match, slip.read_text(encoding="utf-8")
    return match.group(1).strip()


def _report_of(app: Flask, codename: str) -> Report:
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        report = find_by_lookup(db, derive_source_identity(codename, instance.pepper, instance.codename_kdf).lookup_id)
        assert report is not None, "the slip's codename finds no report"
        _ = report.bodies, report.sealed_keys  # loaded before the session closes
        db.expunge_all()
        return report


def _pulled_text(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())


def _at_rest(app: Flask, tmp_path: Path, database_url: str) -> list[tuple[str, bytes]]:
    """Everything the server wrote: the instance folder, and the SQLite database with its
    journal, or on PostgreSQL every row of every table of the test's schema."""
    files = [p for p in app.extensions["parrhesia.instance"].config.path.rglob("*") if p.is_file()]
    if database_url.startswith("sqlite"):
        files += [p for p in tmp_path.glob("parrhesia-test.db*") if p.is_file()]
    found = [(str(p), p.read_bytes()) for p in files]
    if database_url.startswith("postgresql"):
        with _engine(app).connect() as connection:
            tables = connection.scalars(text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")).all()
            assert "reports" in tables
            for table in tables:
                rows = connection.scalars(text(f'SELECT row_to_json(t)::text FROM "{table}" t')).all()  # noqa: S608
                found.append((f"table {table}", "\n".join(rows).encode()))
    assert found
    return found


def test_an_intake_report_is_routed_stored_and_decrypted_by_its_bodies_and_nothing_readable_is_at_rest(
    app: Flask, server: str, officer: RegisteredRecipient, ombudsman: RegisteredRecipient, tmp_path: Path,
    database_url: str,
) -> None:
    canary, document = _canary(), _canary()
    scan = tmp_path / f"{document}.pdf"
    scan.write_bytes(b"%PDF-1.4 " + document.encode())
    slip = tmp_path / "slip.txt"
    result = _intake(server, officer, tmp_path, "--message", f"The clerk took a bribe: {canary}",
                     "--attach", str(scan), "--slip", str(slip), "--trust", _fingerprint(app, OMBUDSMAN))
    assert result.exit_code == 0, result.output
    assert "Integrity Office (integrity-office)" in result.output and "Ombudsman (ombudsman)" in result.output
    codename = _codename(slip)
    assert stat.S_IMODE(slip.stat().st_mode) == 0o600
    assert codename not in result.output, "the officer's screen never shows the codename written to the slip"

    report = _report_of(app, codename)
    assert sorted(b.body_id for b in report.bodies if b.role == "route") == [OFFICE, OMBUDSMAN]
    assert f"Report {report.id} filed" in result.output

    for reader in (ombudsman, officer):  # both bodies of the route decrypt it, through their body keys
        out = tmp_path / f"pulled-{reader.id}"
        pulled = _pull(server, reader, tmp_path, out)
        assert pulled.exit_code == 0, pulled.output
        assert canary in _pulled_text(out / report.id)
        assert (out / report.id / f"{document}.pdf").read_bytes() == b"%PDF-1.4 " + document.encode()

    needles = [canary.encode(), document.encode(), codename.encode()]
    found = [where for where, data in _at_rest(app, tmp_path, database_url) if any(n in data for n in needles)]
    assert not found, f"readable at rest on the server: {found}"


def test_the_person_logs_in_with_the_slip_and_reads_the_report_and_a_reply(
    app: Flask, server: str, officer: RegisteredRecipient, ombudsman: RegisteredRecipient, tmp_path: Path,
) -> None:
    canary = _canary()
    slip = tmp_path / "slip.txt"
    result = _intake(server, officer, tmp_path, "--channel", "telephone", "--message", canary, "--slip", str(slip),
                     "--trust", _fingerprint(app, OMBUDSMAN))
    assert result.exit_code == 0, result.output
    codename = _codename(slip)
    text = slip.read_text(encoding="utf-8")
    assert server in text and "Tor Browser" in text and "Keep this paper hidden" in text
    report = _report_of(app, codename)
    answer = _canary()
    replied = CliRunner().invoke(main, ["desk", "reply", "--server", server, "--token", ombudsman.token,
                                        "--report", report.id, "--message", answer])
    assert replied.exit_code == 0, replied.output

    person = app.test_client()
    assert log_in(person, codename).status_code == 303
    page = person.get("/report").get_data(as_text=True)
    assert canary in page and answer in page


def test_with_the_officers_body_implicated_the_report_goes_elsewhere_and_the_officer_cannot_read_it(
    app: Flask, server: str, officer: RegisteredRecipient, ombudsman: RegisteredRecipient, tmp_path: Path,
) -> None:
    canary = _canary()
    slip = tmp_path / "slip.txt"
    result = _intake(server, officer, tmp_path, "--field", f"implicated={OFFICE}", "--message", canary,
                     "--slip", str(slip), "--trust", _fingerprint(app, OMBUDSMAN))
    assert result.exit_code == 0, result.output
    assert "never receives it: Integrity Office" in result.output
    assert "goes to ombudsman" in result.output and "neither you nor this machine can read it" in result.output

    report = _report_of(app, _codename(slip))
    assert [b.body_id for b in report.bodies if b.role == "route"] == [OMBUDSMAN]
    assert OFFICE in [b.body_id for b in report.bodies if b.role == "excluded"]
    with Session(_engine(app)) as db:
        office_keys = set(db.scalars(select(BodyKey.id).where(BodyKey.body_id == OFFICE)))
        sealed = db.scalars(select(SealedKey).where(SealedKey.report_id == report.id)).all()
    assert sealed and not any(k.body_key_id in office_keys for k in sealed), "the excluded body holds the report key"

    assert app.test_client().get(f"/api/v1/reports/{report.id}", headers=officer.headers).status_code == 404
    out = tmp_path / "officer"
    assert _pull(server, officer, tmp_path, out).exit_code == 0
    assert not (out / report.id).exists() and canary not in (_pulled_text(out) if out.exists() else "")
    theirs = tmp_path / "ombudsman"
    assert _pull(server, ombudsman, tmp_path, theirs).exit_code == 0
    assert canary in _pulled_text(theirs / report.id)


def test_the_server_refuses_an_intake_sealed_to_a_body_in_conflict(
    app: Flask, server: str, officer: RegisteredRecipient, ombudsman: RegisteredRecipient, tmp_path: Path,
    known_keys: Path,
) -> None:
    """Even a desk that seals to its own excluded body cannot make it a reader."""
    client = DeskClient(server, officer.token)
    route = client.intake_route({"implicated": [OFFICE]})
    assert [k["body"] for k in route["body_keys"]] == [OMBUDSMAN] and not route["your_body_receives"]
    with Session(_engine(app)) as db:
        own = custody.current_key(db, OFFICE)
        assert own is not None
        own_entry = {"body": OFFICE, "generation": own.generation, "public_key": encode_public_key(own.public_key),
                     "fingerprint": fingerprint(own.public_key)}
    route["body_keys"].append(own_entry)
    with pytest.raises(DeskError, match="409"):
        file_intake(client, officer.key, route, channel="in-person", message=_canary(), known=KnownKeys(known_keys),
                    trust=[_fingerprint(app, OMBUDSMAN)])
    with Session(_engine(app)) as db:
        assert db.scalars(select(Report)).all() == []


def test_an_untrusted_body_key_is_refused_before_anything_is_sent(
    app: Flask, server: str, officer: RegisteredRecipient, ombudsman: RegisteredRecipient, tmp_path: Path,
) -> None:
    slip = tmp_path / "slip.txt"
    result = _intake(server, officer, tmp_path, "--message", _canary(), "--slip", str(slip))
    assert result.exit_code != 0 and "--trust" in result.output, result.output
    assert not slip.exists()
    with Session(_engine(app)) as db:
        assert db.scalars(select(Report)).all() == []


@pytest.mark.parametrize("named", [False, True])
def test_the_report_shows_it_was_taken_in_person_by_that_body_and_names_the_officer_only_with_consent(
    app: Flask, server: str, officer: RegisteredRecipient, ombudsman: RegisteredRecipient, tmp_path: Path,
    named: bool,
) -> None:
    slip = tmp_path / "slip.txt"
    result = _intake(server, officer, tmp_path, "--message", _canary(), "--slip", str(slip),
                     "--trust", _fingerprint(app, OMBUDSMAN), *(["--name-officer"] if named else []))
    assert result.exit_code == 0, result.output
    report = _report_of(app, _codename(slip))
    assert (report.intake, report.intake_body) == ("in-person", OFFICE)
    shown = app.test_client().get(f"/api/v1/reports/{report.id}", headers=ombudsman.headers).get_json()
    assert (shown["intake"], shown["intake_body"]) == ("in-person", OFFICE)

    trail = app.test_client().get(f"/api/v1/reports/{report.id}/audit", headers=ombudsman.headers).get_json()
    taken = [e for e in trail["entries"] if e["action"] == "report.intake"]
    assert len(taken) == 1 and taken[0]["body_id"] == OFFICE
    assert taken[0]["actor"] == (f"recipient:{officer.id}" if named else f"body:{OFFICE}")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", taken[0]["at"]), "the person's visit is dated to the day only"
    page = _desk(app, ombudsman).get(f"/desk/reports/{report.id}").get_data(as_text=True)
    assert re.search(r'id="report-intake">In person, by integrity-office<', page), "the desk page shows how it was taken"
    if not named:
        everything = json.dumps(trail) + json.dumps(shown) + page
        assert f"recipient:{officer.id}" not in everything
        with Session(_engine(app)) as db:
            actors = db.scalars(select(AuditEntry.actor).where(AuditEntry.report_id == report.id)).all()
        assert f"recipient:{officer.id}" not in actors


def _desk(app: Flask, who: RegisteredRecipient) -> FlaskClient:
    """A browser logged in to the web desk as ``who`` (a desk session, without the log-in page)."""
    token = secrets.token_bytes(32)
    with Session(_engine(app)) as db:
        now = utcnow()
        db.add(DeskSession(token_hash=token_hash(token), account=f"recipient:{who.id}", created_at=now, last_seen_at=now))
        db.commit()
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["desk"] = token.hex()
    return browser
