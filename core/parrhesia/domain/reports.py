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
from dataclasses import dataclass
from datetime import date

from flask import has_app_context
from flask_babel import force_locale
from nacl.public import PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.contract.events import Event, EventName
from parrhesia.contract.manager import PluginFailure
from parrhesia.crypto import MAGIC, SEALED_REPORT_KEY_SIZE, SourceIdentity, seal_report_key
from parrhesia.domain import access, audit, custody
from parrhesia.domain.deadlines import report_clock
from parrhesia.domain.host import PluginHost
from parrhesia.domain.notifications import enqueue_for_bodies
from parrhesia.domain.route_memory import DatabaseRouteMemory
from parrhesia.domain.routing import RouteDecision, RoutingRequest
from parrhesia.storage.blobs import BlobStore
from parrhesia.storage.models import Part, PluginError, Recipient, Report, ReportBody, ReportField, SealedKey
from parrhesia.upload import EncryptedPart, Submission
from parrhesia.upload.sealed_part import is_whole_part

__all__ = [
    "new_report_id",
    "token_hash",
    "record_plugin_failures",
    "recipients_of",
    "store_submission",
    "sealed_to",
    "decide_route",
    "INTAKE_CHANNELS",
    "SealedPart",
    "store_intake",
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
    report = _new_report(report_id, source.lookup_id, bytes(report_key.public_key), decision, fields, day)
    try:
        report.sealed_keys = [
            SealedKey(holder="source", sealed=seal_report_key(report_key, bytes(source.private_key.public_key)))
        ]
        custody.seal_to_bodies(db, report, report_key, sealed_to(decision))
        _add_first(db, report, decision, day)
    except BaseException:
        db.rollback()
        submission.discard()
        raise
    return _received(db, report, decision, submission, day)


def _add_first(db: Session, report: Report, decision: RouteDecision, day: date) -> None:
    """Add a new report's row, then what refers to it: the urgent notifications of its
    duty bodies and the plugin failures of its routing (the caller commits)."""
    db.add(report)
    db.flush()  # the report row first: plugin errors and audit entries refer to it
    enqueue_for_bodies(db, decision.duty, "urgent", on=day)
    record_plugin_failures(db, decision.failures, report.id, on=day)


def _received(
    db: Session, report: Report, decision: RouteDecision, submission: Submission, day: date
) -> tuple[Report, list[Event]]:
    """Store a first submission's parts with its report (commits); its events."""
    _store_parts(db, report, submission, author="source", on=day)
    return report, [Event(EventName.REPORT_RECEIVED, report.id, decision.route),
                    Event(EventName.REPORT_ROUTED, report.id, decision.route)]


def _new_report(
    report_id: str, lookup_id: bytes, public_key: bytes, decision: RouteDecision,
    fields: Mapping[str, Sequence[str]], day: date,
) -> Report:
    """A first submission's report row: its bodies with their roles, its routing fields and clocks."""
    report = Report(
        id=report_id,
        lookup_id=lookup_id,
        public_key=public_key,
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
    return report


def decide_route(host: PluginHost, db: Session, answers: Mapping[str, tuple[str, ...]]) -> RouteDecision:
    """Route a first submission on the server, knowing which bodies can read reports
    here: the review page, the submission and an officer's intake decide alike.
    Raises :class:`parrhesia.domain.routing.RoutingError` when nobody outside the
    conflict could receive it."""
    return host.decide(RoutingRequest.from_fields(answers), custody.readable_bodies(db), DatabaseRouteMemory(db))


def sealed_to(decision: RouteDecision) -> list[str]:
    """The bodies a first submission's report key is sealed to: the route and the escalation chain."""
    return [*decision.route, *(s.body_id for s in decision.escalation)]


INTAKE_CHANNELS = ("in-person", "telephone")


@dataclass(frozen=True)
class SealedPart:
    """A message or attachment sealed on a recipient's machine to the new report's key."""

    part_id: str
    kind: str
    ciphertext: bytes


def store_intake(
    db: Session,
    blobs: BlobStore,
    *,
    officer: Recipient,
    channel: str,
    report_id: str,
    report_public_key: bytes,
    lookup_id: bytes,
    source_sealed: bytes,
    body_sealed: Mapping[str, tuple[int, bytes]],
    decision: RouteDecision,
    fields: Mapping[str, Sequence[str]],
    parts: Sequence[SealedPart],
    on: date,
    name_officer: bool = False,
) -> tuple[Report, list[Event]]:
    """Store a report an officer took in person or by telephone, sealed on their machine.

    The same report as :func:`store_submission` makes, from what arrives sealed: the
    report key sealed to the source's codename key and to the current key of every body
    of the route and the escalation chain that has one — exactly those, so no body in
    conflict (the officer's own, perhaps) ever holds it — and parts that are whole
    Parrhesia parts. The report records the channel and the officer's body; the audit
    entry names the officer only with the person's consent (``name_officer``), and is
    dated to the day like a source's own actions. Raises :class:`custody.CustodyError`
    (nothing stored) when a key or part is missing or out of place.
    """
    if channel not in INTAKE_CHANNELS:
        raise custody.CustodyError(f"The channel is one of {', '.join(INTAKE_CHANNELS)}.")
    if not any(part.kind in ("message", "attachment") for part in parts):
        raise custody.CustodyError("Write a message or attach at least one file.")
    for part in parts:
        if part.kind not in ("message", "attachment", "answers"):
            raise custody.CustodyError(f"A part of an intake is a message, an attachment or answers, not {part.kind!r}.")
        if not part.ciphertext.startswith(MAGIC) or not is_whole_part(len(part.ciphertext)):
            raise custody.CustodyError(f"Part {part.part_id} is not a whole Parrhesia part.")
    if len(source_sealed) != SEALED_REPORT_KEY_SIZE or len(report_public_key) != 32 or len(lookup_id) != 32:
        raise custody.CustodyError("The source's sealed key, the report key or the lookup id has the wrong size.")
    keyed = set(custody.current_keys(db, sealed_to(decision)))
    if set(body_sealed) != keyed:
        raise custody.CustodyError(
            "The report key must be sealed to exactly the bodies that receive it or may on escalation "
            f"({', '.join(sorted(keyed)) or 'none'}): ask for the route again."
        )
    if find_by_lookup(db, lookup_id) is not None:
        raise custody.CustodyError("This codename is taken: make a new one.")
    day = on
    report = _new_report(report_id, lookup_id, report_public_key, decision, fields, day)
    report.intake, report.intake_body = channel, officer.body_id
    report.sealed_keys = [SealedKey(holder="source", sealed=source_sealed)]
    submission = Submission()
    try:
        for body_id, (generation, sealed) in sorted(body_sealed.items()):
            custody.accept_sealed_report_key(db, report, body_id, generation, sealed)
        for part in parts:
            pending = blobs.create(part.part_id)
            submission.parts.append(EncryptedPart(part.part_id, part.kind, pending, ciphertext_size=len(part.ciphertext)))
            pending.file.write(part.ciphertext)
        _add_first(db, report, decision, day)
        audit.record(db, "report.intake", actor=audit.actor_of(officer) if name_officer else f"body:{officer.body_id}",
                     report_id=report_id, body_id=officer.body_id, detail={"channel": channel}, day_only=True)
    except BaseException:
        db.rollback()
        submission.discard()
        raise
    return _received(db, report, decision, submission, day)


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
