"""The audit log: hash-chained, content-free; editing, deleting or reordering is found."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.domain import audit, casework
from parrhesia.storage.models import AuditEntry, Recipient
from parrhesia.testing import RegisteredRecipient, SubmittedReport


@pytest.fixture
def logged(app: Flask, recipient: RegisteredRecipient, submitted_report: SubmittedReport) -> str:
    """An instance whose log holds a few real entries; returns the instance folder."""
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        officer = db.get(Recipient, recipient.id)
        assert officer is not None
        report = casework.open_report(db, officer, submitted_report.id)
        casework.acknowledge(db, officer, report, on=date.today())
        casework.set_status(db, officer, report, "assessing", on=date.today())
    return str(app.extensions["parrhesia.instance"].config.path)


def _verify(folder: str) -> Any:
    return CliRunner().invoke(main, ["audit", "verify", "--instance", folder])


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def test_an_intact_log_verifies_and_names_its_head(app: Flask, logged: str) -> None:
    result = _verify(logged)
    assert result.exit_code == 0, result.output
    with Session(_engine(app)) as db:
        entries = db.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [e.action for e in entries][-3:] == ["open", "acknowledge", "status"]
    assert f"Head: entry {entries[-1].seq} {entries[-1].hash}" in result.output


def test_an_edited_entry_is_found(app: Flask, logged: str) -> None:
    with Session(_engine(app)) as db:
        seq = db.scalars(select(AuditEntry.seq).where(AuditEntry.action == "acknowledge")).one()
        db.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(actor="recipient:999"))
        db.commit()
    result = _verify(logged)
    assert result.exit_code == 1
    assert f"broken at entry {seq}: its content was changed" in result.output


def test_a_deleted_entry_is_found(app: Flask, logged: str) -> None:
    with Session(_engine(app)) as db:
        seq = db.scalars(select(AuditEntry.seq).where(AuditEntry.action == "acknowledge")).one()
        db.execute(delete(AuditEntry).where(AuditEntry.seq == seq))
        db.commit()
    result = _verify(logged)
    assert result.exit_code == 1 and f"entry {seq} is missing" in result.output


def test_reordered_entries_are_found(app: Flask, logged: str) -> None:
    with Session(_engine(app)) as db:
        first, second = db.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(2)).all()[::-1]
        fields = ("at", "actor", "action", "report_id", "body_id", "detail", "prev_hash", "hash")
        a = {f: getattr(first, f) for f in fields}
        b = {f: getattr(second, f) for f in fields}
        first_seq, second_seq = first.seq, second.seq
        db.execute(update(AuditEntry).where(AuditEntry.seq == first_seq).values(**b))
        db.execute(update(AuditEntry).where(AuditEntry.seq == second_seq).values(**a))
        db.commit()
    result = _verify(logged)
    assert result.exit_code == 1 and f"broken at entry {first_seq}" in result.output


def test_entries_hold_no_content_and_no_address(app: Flask, logged: str, submitted_report: SubmittedReport) -> None:
    with Session(_engine(app)) as db:
        text = " ".join(f"{e.actor} {e.action} {e.detail}" for e in db.scalars(select(AuditEntry)))
    assert submitted_report.message not in text and submitted_report.codename not in text
    assert "127.0.0.1" not in text


def test_the_chain_links_each_entry_to_the_previous_one(app: Flask, logged: str) -> None:
    with Session(_engine(app)) as db:
        entries = db.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert entries[0].prev_hash == audit.GENESIS
        assert all(later.prev_hash == earlier.hash for earlier, later in zip(entries, entries[1:], strict=False))
        assert audit.verify(entries) is None


def test_what_a_source_did_is_dated_to_the_day_only(app: Flask) -> None:
    with Session(_engine(app)) as db:
        source_entry = audit.record(db, "protection.consent", actor="source")
        desk_entry = audit.record(db, "open", actor="recipient:1")
        db.commit()
        assert len(source_entry.at) == len("2026-11-28") and "T" not in source_entry.at
        assert "T" in desk_entry.at
        assert audit.verify(db.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()) is None


def test_concurrent_writers_keep_one_unbroken_chain(app: Flask) -> None:
    import threading

    errors: list[BaseException] = []

    def writer(n: int) -> None:
        for i in range(15):
            try:
                with Session(_engine(app)) as db:
                    audit.record(db, "open", actor=f"recipient:{n}", detail={"i": i})
                    db.commit()
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

    with Session(_engine(app)) as db:  # the standing readers' registration and body keys
        before = len(db.scalars(select(AuditEntry)).all())
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(_engine(app)) as db:
        entries = db.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert len(entries) == before + 75 and audit.verify(entries) is None
