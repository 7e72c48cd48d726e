"""Audit anchors: a recipient's desk remembers the last audit head it saw and warns when
the chain it is shown does not extend it (docs/format.md §13); ``audit verify --head``
does the same for an operator who keeps heads elsewhere.

The log is attacked as an operator with the database would: its newest entries cut,
or an old entry rewritten with every later hash recomputed, so that the chain is intact
on its own and only a head kept outside the database exposes it.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from nacl.signing import SigningKey
from node_support import answer_of
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.crypto.audit_chain import RememberedHead, anchor_verdict, read_anchor_statement
from parrhesia.crypto.receipt import encode_verify_key
from parrhesia.domain import audit, casework
from parrhesia.recipient.anchor import AuditHeads, default_audit_heads_path
from parrhesia.storage.models import AuditEntry, Recipient
from parrhesia.testing import RegisteredRecipient, SubmittedReport

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "anchor.json").read_text(encoding="utf-8"))


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def _work(app: Flask, recipient: RegisteredRecipient, report_id: str, status: str) -> None:
    """Some casework, so that the log grows."""
    with Session(_engine(app)) as db:
        officer = db.get(Recipient, recipient.id)
        assert officer is not None
        casework.set_status(db, officer, casework.open_report(db, officer, report_id), status, on=date.today())


def _entries(app: Flask) -> list[AuditEntry]:
    with Session(_engine(app)) as db:
        return list(db.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def _cut(app: Flask, keep: int) -> None:
    """Remove every entry after entry ``keep``: what is left is an intact chain."""
    with Session(_engine(app)) as db:
        db.execute(delete(AuditEntry).where(AuditEntry.seq > keep))
        db.commit()


def _rewrite(app: Flask, seq: int) -> None:
    """Change entry ``seq`` and recompute its hash and every later one: intact on its own."""
    with Session(_engine(app)) as db:
        entries = list(db.scalars(select(AuditEntry).where(AuditEntry.seq >= seq).order_by(AuditEntry.seq)))
        previous = entries[0].prev_hash
        entries[0].actor = "recipient:999"
        for entry in entries:
            entry.prev_hash = previous
            entry.hash = audit.entry_hash(previous, entry.seq, entry.at, entry.actor, entry.action, entry.report_id,
                                          entry.body_id, entry.detail)
            previous = entry.hash
        db.commit()
    assert audit.verify(_entries(app)) is None


# ---------------------------------------------------------------- the rule, in both languages


@pytest.mark.parametrize("case", VECTORS["verdicts"], ids=[c["comment"] for c in VECTORS["verdicts"]])
def test_each_vector_gets_its_verdict(case: dict[str, Any]) -> None:
    remembered = case["remembered"]
    head = RememberedHead(remembered["seq"], remembered["hash"], remembered["instance_key"]) if remembered else None
    assert anchor_verdict(head, read_anchor_statement(case["statement"].encode("ascii"))) == case["verdict"]


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=[c["comment"] for c in VECTORS["invalid"]])
def test_what_is_not_a_statement_is_refused(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        read_anchor_statement(case["statement"].encode("utf-8"))


def _node(job: dict[str, Any]) -> dict[str, Any]:
    return answer_of("anchor_check.js", job)


def test_the_browser_desk_reaches_the_same_verdicts_and_refuses_the_same_statements() -> None:
    answer = _node({"vectors": True})
    assert answer["verdicts"] == [c["verdict"] for c in VECTORS["verdicts"]]
    assert answer["invalid"] == [None] * len(VECTORS["invalid"])


def test_the_browser_desk_checks_the_instance_signature() -> None:
    key = SigningKey.generate()
    statement = VECTORS["verdicts"][2]["statement"].replace(
        read_anchor_statement(VECTORS["verdicts"][2]["statement"].encode()).instance_key,
        encode_verify_key(bytes(key.verify_key)),
    ).encode("ascii")
    import base64

    signature = base64.b64encode(key.sign(statement).signature).decode()
    changed = statement.replace(b"head: 9", b"head: 8")
    other = base64.b64encode(SigningKey.generate().sign(statement).signature).decode()
    answer = _node({"signed": [
        {"statement": statement.decode(), "signature": signature},
        {"statement": changed.decode(), "signature": signature},
        {"statement": statement.decode(), "signature": other},
        {"statement": statement.decode(), "signature": "not base64"},
    ]})
    assert answer["signed"] == [True, False, False, False]


# ---------------------------------------------------------------- the server's side


def test_the_server_finds_a_break_after_the_remembered_entry(
    app: Flask, recipient: RegisteredRecipient, submitted_report: SubmittedReport,
) -> None:
    _work(app, recipient, submitted_report.id, "assessing")
    entries = _entries(app)
    since = entries[0].seq
    with Session(_engine(app)) as db:
        found = audit.anchor(db, since)
        assert (found.head_seq, found.head_hash) == (entries[-1].seq, entries[-1].hash)
        assert (found.since_seq, found.since_hash, found.problem) == (since, entries[0].hash, None)
        assert audit.anchor(db, None).since_seq is None
        assert audit.anchor(db, entries[-1].seq + 5).since_hash is None
        # An edit that leaves the stored hashes alone: the recomputed hash differs.
        edited = db.get(AuditEntry, entries[-1].seq)
        assert edited is not None
        edited.detail = '{"status":"closed"}'
        db.flush()
        problem = audit.anchor(db, since).problem
        assert problem is not None and problem.seq == entries[-1].seq
        db.rollback()


# ---------------------------------------------------------------- the operator's check


def _verify(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["audit", "verify", "--instance", str(folder), *args])


def test_audit_verify_with_a_kept_head_finds_a_cut_and_a_rewritten_log(
    app: Flask, instance_dir: Path, recipient: RegisteredRecipient, submitted_report: SubmittedReport,
) -> None:
    _work(app, recipient, submitted_report.id, "assessing")
    kept = _entries(app)[-1]
    head = f"{kept.seq}:{kept.hash}"
    intact = _verify(instance_dir)
    assert intact.exit_code == 0 and f"--head {head}" in intact.output
    _work(app, recipient, submitted_report.id, "investigating")
    extended = _verify(instance_dir, "--head", head)
    assert extended.exit_code == 0 and f"It extends the head kept: entry {kept.seq}." in extended.output

    _rewrite(app, 1)
    assert _verify(instance_dir).exit_code == 0  # intact on its own
    rewritten = _verify(instance_dir, "--head", head)
    assert rewritten.exit_code == 1 and f"Entry {kept.seq} has another hash" in rewritten.output

    _cut(app, kept.seq - 1)
    cut = _verify(instance_dir, "--head", head)
    assert cut.exit_code == 1 and f"entry {kept.seq}, kept as a head, was removed" in cut.output


@pytest.mark.parametrize("head", ["41", "0:" + "a" * 64, "3:" + "A" * 64, "3:abc", "x:" + "a" * 64])
def test_audit_verify_refuses_a_head_it_cannot_read(instance_dir: Path, head: str) -> None:
    result = _verify(instance_dir, "--head", head)
    assert result.exit_code == 2 and "SEQ:HASH" in result.output


# ---------------------------------------------------------------- the command-line desk


def _desk(server: str, who: RegisteredRecipient, *args: str) -> Result:
    return CliRunner().invoke(main, ["desk", "audit", "--server", server, "--token", who.token, *args])


def test_the_desk_remembers_the_head_and_warns_when_the_log_is_cut(
    app: Flask, server: str, recipient: RegisteredRecipient, submitted_report: SubmittedReport,
) -> None:
    first = _desk(server, recipient)
    assert first.exit_code == 0 and "first look" in first.output, first.output
    seen = _entries(app)[-1]
    assert f"entry {seen.seq} {seen.hash}" in first.output
    heads = json.loads(default_audit_heads_path().read_text())
    assert heads["servers"][server]["head"]["seq"] == seen.seq
    assert default_audit_heads_path().stat().st_mode & 0o077 == 0

    _work(app, recipient, submitted_report.id, "assessing")
    again = _desk(server, recipient)
    assert again.exit_code == 0 and f"intact from entry {seen.seq}" in again.output, again.output
    remembered = _entries(app)[-1]

    _cut(app, remembered.seq - 1)
    warned = _desk(server, recipient)
    assert warned.exit_code == 1, warned.output
    assert f"no longer holds entry {remembered.seq}" in warned.output and "--accept" in warned.output
    kept = AuditHeads(default_audit_heads_path())
    assert kept.remembered(server) == RememberedHead(remembered.seq, remembered.hash, kept.remembered(server).instance_key)
    # The log grows again past the cut: the warning stays, and so does the head remembered.
    _work(app, recipient, submitted_report.id, "investigating")
    _work(app, recipient, submitted_report.id, "referred")
    assert _desk(server, recipient).exit_code == 1
    conflicts = json.loads(default_audit_heads_path().read_text())["servers"][server]["conflicts"]
    assert len(conflicts) == 2 and all("signature" in c for c in conflicts)

    accepted = _desk(server, recipient, "--accept")
    assert accepted.exit_code == 0 and "first look" in accepted.output
    assert _desk(server, recipient).exit_code == 0


def test_the_desk_warns_when_the_log_was_rewritten_below_its_head(
    app: Flask, server: str, recipient: RegisteredRecipient, submitted_report: SubmittedReport,
) -> None:
    _work(app, recipient, submitted_report.id, "assessing")
    assert _desk(server, recipient).exit_code == 0
    _rewrite(app, 2)
    warned = _desk(server, recipient)
    assert warned.exit_code == 1 and "has changed: the log was rewritten up to it" in warned.output, warned.output


def test_the_desk_warns_when_an_entry_after_its_head_was_edited(
    app: Flask, server: str, recipient: RegisteredRecipient, submitted_report: SubmittedReport,
) -> None:
    assert _desk(server, recipient).exit_code == 0
    _work(app, recipient, submitted_report.id, "assessing")
    with Session(_engine(app)) as db:
        last = db.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
        last.actor, seq = "recipient:999", last.seq
        db.commit()
    warned = _desk(server, recipient)
    assert warned.exit_code == 1 and f"entry {seq} was changed" in warned.output, warned.output


def test_desk_pull_checks_the_head_after_pulling(
    app: Flask, server: str, tmp_path: Path, recipient: RegisteredRecipient, submitted_report: SubmittedReport,
) -> None:
    def pull() -> Result:
        return CliRunner().invoke(main, ["desk", "pull", "--server", server, "--token", recipient.token,
                                         *recipient.key_file_args(tmp_path), "--out", str(tmp_path / "out")])

    first = pull()
    assert first.exit_code == 0 and "first look" in first.output, first.output
    remembered = _entries(app)[-1]
    _cut(app, remembered.seq - 1)
    warned = pull()
    assert warned.exit_code == 1 and f"no longer holds entry {remembered.seq}" in warned.output, warned.output
    assert "report(s)" in warned.output  # the pull itself was done


def test_a_forged_answer_is_refused_and_remembers_nothing(server: str, tmp_path: Path) -> None:
    heads = AuditHeads(tmp_path / "heads.json")
    key = SigningKey.generate()
    statement = VECTORS["verdicts"][0]["statement"]
    forged = {"statement": statement, "signature": "A" * 86 + "=="}
    from parrhesia.recipient.known_keys import DeskError

    with pytest.raises(DeskError, match="cannot be read|not signed"):
        heads.check(server, forged)
    with pytest.raises(DeskError, match="not signed"):
        import base64

        heads.check(server, {"statement": statement, "signature": base64.b64encode(key.sign(b"x").signature).decode()})
    assert heads.remembered(server) is None and not (tmp_path / "heads.json").exists()


# ---------------------------------------------------------------- the routes


def test_the_anchor_routes_need_a_recipient_and_a_whole_number(
    app: Flask, recipient: RegisteredRecipient,
) -> None:
    client = app.test_client()
    assert client.get("/api/v1/audit/anchor").status_code == 401
    bearer = {"Authorization": f"Bearer {recipient.token}"}
    for bad in ("0", "-1", "1.5", "x", "9" * 20, "٣"):
        answer = client.get("/api/v1/audit/anchor", query_string={"since": bad}, headers=bearer)
        assert answer.status_code == 400, bad
    good = client.get("/api/v1/audit/anchor", headers=bearer)
    assert good.status_code == 200
    assert read_anchor_statement(good.get_json()["statement"].encode()).since_seq is None
    desk = client.get("/desk/audit/anchor.json")
    assert desk.status_code in (302, 401, 403)
