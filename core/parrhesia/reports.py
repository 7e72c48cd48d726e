"""Reports: opening a case, adding to it, and who may read it.

Every function here works on ciphertext and identifiers only. Keys are sealed to each
active recipient of each body on the route (a recipient who joins later gains access
to older reports only when an existing holder re-seals the key for them), and to the
source's codename-derived key.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime

from flask import has_app_context
from flask_babel import force_locale
from nacl.public import PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.clocks import due_date
from parrhesia.crypto import SourceIdentity, encrypt_bytes, seal_report_key
from parrhesia.instance import Instance
from parrhesia.notifications import enqueue_for_bodies
from parrhesia.models import Part, PluginError, Recipient, Report, ReportBody, ReportClock, ReportField, SealedKey
from parrhesia.plugins import PluginFailure
from parrhesia.routing import RouteDecision
from parrhesia.upload import Submission

__all__ = [
    "today",
    "new_report_id",
    "token_hash",
    "record_plugin_failures",
    "recipients_of",
    "open_report",
    "add_source_parts",
    "find_by_lookup",
    "reports_for_recipient",
    "report_for_recipient",
]


def english(text: object) -> str:
    """A (possibly lazy) text as stored: in English, whoever's request stores it."""
    if has_app_context():
        with force_locale("en"):
            return str(text)
    return str(text)


def today() -> date:
    """The current date in UTC: the only precision at which source activity is kept."""
    return datetime.now(UTC).date()


def new_report_id() -> str:
    return secrets.token_hex(16)


def token_hash(token: bytes | str) -> bytes:
    raw = token.encode("utf-8") if isinstance(token, str) else token
    return hashlib.sha256(raw).digest()


def recipients_of(db: Session, body_ids: Iterable[str]) -> list[Recipient]:
    ids = list(body_ids)
    query = select(Recipient).where(Recipient.body_id.in_(ids), Recipient.active.is_(True))
    return list(db.scalars(query.order_by(Recipient.body_id, Recipient.id)))


def open_report(
    db: Session,
    *,
    report_id: str,
    report_key: PrivateKey,
    source: SourceIdentity,
    decision: RouteDecision,
    fields: Mapping[str, Sequence[str]],
    submission: Submission,
    on: date | None = None,
) -> Report:
    """Store a first submission: the report, its routing, sealed keys and parts.

    The report key is sealed to every recipient of the route and of the escalation
    chain; the server gives escalation bodies access only when escalation triggers.
    Blobs are renamed into place before the transaction commits; if the commit fails
    they are deleted again, so a report is either whole or absent. ``on`` is the day of
    submission where the report's deadlines are counted (its jurisdiction's day).
    """
    day = on or today()
    report = Report(
        id=report_id,
        lookup_id=source.lookup_id,
        public_key=bytes(report_key.public_key),
        status="received",
        created_on=day,
        updated_on=day,
        fallback_route=decision.fallback,
    )
    report.bodies = (
        [ReportBody(body_id=b, role="route") for b in decision.route]
        + [ReportBody(body_id=s.body_id, role="escalation", rank=s.rank, reason=s.reason or None) for s in decision.escalation]
        + [ReportBody(body_id=e.body_id, role="excluded", reason=english(e.reason)[:500]) for e in decision.excluded]
    )
    report.fields = [ReportField(name=name, value=value) for name, values in fields.items() for value in sorted(set(values))]
    report.clocks = [
        ReportClock(
            clock_id=clock.id,
            label=str(clock.label)[:200],
            legal_source=clock.legal_source[:200],
            body_id=clock.body_id,
            due_on=due_date(day, clock),
            extendable_to_months=clock.extendable_to_months,
            met_by=clock.met_by,
            pausable=clock.pausable,
            state="running",
        )
        for clock in decision.clocks
    ]
    readers = [*decision.route, *(s.body_id for s in decision.escalation)]
    try:
        report.sealed_keys = [
            SealedKey(holder="source", sealed=seal_report_key(report_key, bytes(source.private_key.public_key)))
        ] + [
            SealedKey(holder="recipient", recipient_id=r.id, sealed=seal_report_key(report_key, r.public_key))
            for r in recipients_of(db, readers)
        ]
        db.add(report)
        db.flush()  # the report row first: plugin errors refer to it
        enqueue_for_bodies(db, decision.route, "new-report", on=day)
        enqueue_for_bodies(db, decision.duty, "urgent", on=day)
        record_plugin_failures(db, decision.failures, report_id)
    except BaseException:
        db.rollback()
        submission.discard()
        raise
    _store_parts(db, report, submission, author="source")
    return report


def record_plugin_failures(db: Session, failures: Iterable[PluginFailure], report_id: str | None) -> None:
    """Keep a content-free record of plugin failures for operators (committed by the caller)."""
    for failure in failures:
        db.add(
            PluginError(
                occurred_on=today(),
                plugin=failure.plugin[:100],
                hook=failure.hook[:100],
                error=failure.error[:200],
                report_id=report_id,
            )
        )


def add_source_parts(db: Session, report: Report, submission: Submission) -> None:
    """Store a follow-up from the source."""
    enqueue_for_bodies(db, (b.body_id for b in report.bodies if b.role == "route"), "new-message", on=today())
    _store_parts(db, report, submission, author="source")


def _store_parts(db: Session, report: Report, submission: Submission, *, author: str) -> None:
    day = today()
    for part in submission.parts:
        db.add(
            Part(
                id=part.part_id,
                report_id=report.id,
                kind=part.kind,
                author=author,
                blob=part.blob.name,
                size=part.ciphertext_size,
                created_on=day,
            )
        )
    report.updated_on = day
    try:
        db.flush()
        submission.commit()
        db.commit()
    except BaseException:
        db.rollback()
        submission.discard()
        raise


def add_text_part(
    instance: Instance, db: Session, report: Report, text: str, *, kind: str, meta: Mapping[str, object] | None = None
) -> Part:
    """Seal a short text from the source on receipt, in memory, to the report key
    (added to the session; the caller commits)."""
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(text.encode("utf-8"), report.public_key, report.id, part_id, {"kind": kind, **(meta or {})})
    with instance.blobs.writing(part_id) as pending:
        pending.file.write(blob)
    part = Part(id=part_id, report_id=report.id, kind=kind, author="source", blob=part_id, size=len(blob), created_on=today())
    db.add(part)
    return part


def find_by_lookup(db: Session, lookup_id: bytes) -> Report | None:
    return db.scalar(select(Report).where(Report.lookup_id == lookup_id))


def reports_for_recipient(db: Session, recipient: Recipient) -> list[Report]:
    """Reports on the route of the recipient's body, newest first."""
    query = (
        select(Report)
        .join(ReportBody, ReportBody.report_id == Report.id)
        .where(ReportBody.body_id == recipient.body_id, ReportBody.role == "route")
        .order_by(Report.created_on.desc(), Report.id)
    )
    return list(db.scalars(query))


def report_for_recipient(db: Session, recipient: Recipient, report_id: str) -> Report | None:
    """One report, only if it is routed to the recipient's body."""
    query = (
        select(Report)
        .join(ReportBody, ReportBody.report_id == Report.id)
        .where(Report.id == report_id, ReportBody.body_id == recipient.body_id, ReportBody.role == "route")
    )
    return db.scalar(query)
