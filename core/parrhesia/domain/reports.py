"""Reports: storing a first submission and the source's follow-ups.

Every function here works on ciphertext and identifiers only. The report key is
sealed to the body keys of the route and of the escalation chain
(:mod:`parrhesia.domain.custody`) and to the source's codename-derived key; which reports a
body may read is :mod:`parrhesia.domain.access`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from flask import has_app_context
from flask_babel import force_locale
from nacl.public import PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.contract.events import Event, EventName
from parrhesia.contract.manager import PluginFailure
from parrhesia.crypto import SourceIdentity, seal_report_key
from parrhesia.domain import access, custody
from parrhesia.domain.deadlines import report_clock
from parrhesia.domain.notifications import enqueue_for_bodies
from parrhesia.domain.routing import RouteDecision
from parrhesia.storage.models import Part, PluginError, Recipient, Report, ReportBody, ReportField, SealedKey
from parrhesia.upload import Submission

__all__ = [
    "new_report_id",
    "token_hash",
    "record_plugin_failures",
    "recipients_of",
    "store_submission",
    "add_source_parts",
    "find_by_lookup",
    "reports_for_recipient",
]


def english(text: object) -> str:
    """A (possibly lazy) text as stored: in English, whoever's request stores it."""
    if has_app_context():
        with force_locale("en"):
            return str(text)
    return str(text)


def new_report_id() -> str:
    return secrets.token_hex(16)


def token_hash(token: bytes | str) -> bytes:
    raw = token.encode("utf-8") if isinstance(token, str) else token
    return hashlib.sha256(raw).digest()


def recipients_of(db: Session, body_ids: Iterable[str]) -> list[Recipient]:
    ids = list(body_ids)
    query = select(Recipient).where(Recipient.body_id.in_(ids), Recipient.active.is_(True))
    return list(db.scalars(query.order_by(Recipient.body_id, Recipient.id)))


def store_submission(
    db: Session,
    *,
    report_id: str,
    report_key: PrivateKey,
    source: SourceIdentity,
    decision: RouteDecision,
    fields: Mapping[str, Sequence[str]],
    submission: Submission,
    on: date,
) -> tuple[Report, list[Event]]:
    """Store a first submission: the report, its routing, sealed keys and parts.

    The report key is sealed to the body key of every body of the route and of the
    escalation chain; the server gives escalation bodies access only when escalation
    triggers. Blobs are renamed into place before the transaction commits; if the
    commit fails they are deleted again, so a report is either whole or absent. ``on``
    is the day of submission where the report's deadlines are counted (its
    jurisdiction's day). Returns the report and its events, for
    :func:`parrhesia.domain.events.dispatch`.
    """
    day = on
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
        [ReportBody(body_id=b, role=access.ROUTE) for b in decision.route]
        + [ReportBody(body_id=s.body_id, role=access.ESCALATION, rank=s.rank, reason=english(s.reason)[:500] or None)
           for s in decision.escalation]
        + [ReportBody(body_id=e.body_id, role=access.EXCLUDED, reason=english(e.reason)[:500]) for e in decision.excluded]
        + [ReportBody(body_id=b, role=access.NO_KEY) for b in decision.waiting]
    )
    report.fields = [ReportField(name=name, value=value) for name, values in fields.items() for value in sorted(set(values))]
    report.clocks = [report_clock(clock, day) for clock in decision.clocks]
    try:
        report.sealed_keys = [
            SealedKey(holder="source", sealed=seal_report_key(report_key, bytes(source.private_key.public_key)))
        ]
        custody.seal_to_bodies(db, report, report_key, [*decision.route, *(s.body_id for s in decision.escalation)])
        db.add(report)
        db.flush()  # the report row first: plugin errors refer to it
        enqueue_for_bodies(db, decision.duty, "urgent", on=day)
        record_plugin_failures(db, decision.failures, report_id, on=day)
    except BaseException:
        db.rollback()
        submission.discard()
        raise
    _store_parts(db, report, submission, author="source", on=day)
    events = [Event(EventName.REPORT_RECEIVED, report.id, decision.route),
              Event(EventName.REPORT_ROUTED, report.id, decision.route)]
    return report, events


def record_plugin_failures(db: Session, failures: Iterable[PluginFailure], report_id: str | None, *, on: date) -> None:
    """Keep a content-free record of plugin failures on day ``on``, for operators (committed by the caller)."""
    for failure in failures:
        db.add(
            PluginError(
                occurred_on=on,
                plugin=failure.plugin[:100],
                hook=failure.hook[:100],
                error=failure.error[:200],
                report_id=report_id,
            )
        )


def add_source_parts(db: Session, report: Report, submission: Submission, *, on: date) -> list[Event]:
    """Store a follow-up from the source on the report's day ``on``; returns its event for the bodies holding it."""
    _store_parts(db, report, submission, author="source", on=on)
    return [Event(EventName.SOURCE_FOLLOW_UP, report.id, tuple(access.route_of(report)))]


def _store_parts(db: Session, report: Report, submission: Submission, *, author: str, on: date) -> None:
    day = on
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


def find_by_lookup(db: Session, lookup_id: bytes) -> Report | None:
    return db.scalar(select(Report).where(Report.lookup_id == lookup_id))


def reports_for_recipient(db: Session, recipient: Recipient) -> list[Report]:
    """Reports the recipient's body holds now, newest first."""
    return list(db.scalars(access.routed_to(recipient.body_id)))
