"""Protection requests: a source asks for a measure; the competent body handles it.

The request goes to the body competent for the measure in its jurisdiction — never to
a body in conflict for the report: if the competent body is excluded, recused or
transferred away, the request goes to the next independent body of the escalation
chain. It carries its own clock (e.g. a claim window counted from a dismissal date the
source gives) and its status is shown to the source.

Identity disclosure is gated (Directive 2019/1937 Art 16): an identity the source chose
to give is readable only after the source consents, or after a designated custodian's
recorded decision whose written reasons were shown to the source for a notice period.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.contract.events import Event, EventName
from parrhesia.crypto import seal_report_key
from parrhesia.domain import access, audit, custody
from parrhesia.domain.casework import PROTECTION_CLOCK_PREFIX
from parrhesia.domain.deadlines import report_clock
from parrhesia.domain.host import PluginHost
from parrhesia.domain.parts import Sealing
from parrhesia.instance import Instance
from parrhesia.storage.models import ProtectionRequest, Recipient, Report, SealedKey

__all__ = [
    "STATUSES",
    "DISCLOSURE_NOTICE_DAYS",
    "ProtectionError",
    "competent_body",
    "request_protection",
    "set_status",
    "consent_to_disclosure",
    "decide_disclosure",
    "identity_readable",
    "requests_for_body",
    "may_handle",
    "hand_on",
]

STATUSES = ("requested", "in-progress", "granted", "refused", "referred", "withdrawn")
DISCLOSURE_NOTICE_DAYS = 10


class ProtectionError(ValueError):
    """A protection request that cannot be made or changed, with a clear message."""


def competent_body(host: PluginHost, db: Session, report: Report, measure_body: str | None) -> str:
    """The measure's competent body; if it is in conflict or nobody there can read the
    request, a body already holding the report, then the next of its chain."""
    blocked = access.blocked_bodies(report)
    candidates = [measure_body] if measure_body else []
    candidates += [b.body_id for b in sorted(report.bodies, key=lambda b: (b.role != access.ROUTE, b.rank or 0, b.body_id))
                   if b.role in (access.ROUTE, access.ESCALATION)]
    readable = custody.readable_bodies(db, [c for c in candidates if c])
    for body_id in candidates:
        if body_id and body_id in host.directory and body_id not in blocked and body_id in readable:
            return body_id
    raise ProtectionError(_l("No independent body can handle this request on this instance."))


def request_protection(
    host: PluginHost,
    instance: Instance,
    db: Session,
    report: Report,
    *,
    measure_id: str,
    details: str,
    identity: str = "",
    from_date: date | None = None,
    on: date,
) -> tuple[ProtectionRequest, list[Event]]:
    """Record a source's request; seal its details and (optional) identity. Commits;
    returns the request and the event to dispatch (the competent body is notified)."""
    measure = next((m for m in host.measures if m.id == measure_id), None)
    if measure is None:
        raise ProtectionError(_l("This protection measure is not offered here."))
    if measure.date_label and from_date is None:
        raise ProtectionError(_l("Please give the date asked for: %(label)s.", label=measure.date_label))
    if from_date is not None and from_date > on:
        raise ProtectionError(_l("The date cannot be in the future."))
    body_id = competent_body(host, db, report, measure.body_id)
    report.updated_on = on
    request = ProtectionRequest(
        id=secrets.token_hex(16), report_id=report.id, measure_id=measure.id, body_id=body_id,
        status="requested", created_on=on, updated_on=on, identity_state="none",
    )
    with Sealing(instance, db) as sealing:
        if details.strip():
            # Details: the competent body, and the report key (the source sees them, and
            # a body that takes the request over reads them through the report).
            part, part_key = sealing.text_with_own_key(report, details, kind="protection", author="source", on=on)
            custody.seal_part_key(db, report, part.id, part_key, body_id, holder="protection")
            db.add(SealedKey(report_id=report.id, holder="report", part_id=part.id,
                             sealed=seal_report_key(part_key, report.public_key)))
            request.details_part_id = part.id
        if identity.strip():
            # Identity: the competent body only; withheld by the server until consent.
            part, part_key = sealing.text_with_own_key(report, identity, kind="identity", author="source", on=on)
            custody.seal_part_key(db, report, part.id, part_key, body_id, holder="identity")
            request.identity_part_id = part.id
            request.identity_state = "withheld"
        if measure.clock is not None:
            report.clocks.append(report_clock(measure.clock, from_date or on, body_id=body_id,
                                              clock_id=f"{PROTECTION_CLOCK_PREFIX}{request.id[:8]}"))
        db.add(request)
        audit.record(db, "protection.request", actor="source", report_id=report.id, body_id=body_id,
                     detail={"request": request.id, "measure": measure.id, "identity_given": bool(identity.strip())})
    return request, [Event(EventName.PROTECTION_REQUESTED, report.id, (body_id,))]


def hand_on(host: PluginHost, db: Session, report: Report, left: str, *, actor: str, on: date) -> list[str]:
    """The requests of a report that ``left`` handled go to the next body able to
    (:func:`competent_body`, never one in conflict), with their clocks; returns the
    request ids handed on. The details reach the new body through the report key; an
    identity sealed to the body that left stays with nobody until the source gives it
    again (the source page says so). The caller commits."""
    moved = []
    for row in report.protection_requests:
        if row.body_id != left or row.status in ("granted", "refused", "withdrawn"):
            continue
        try:
            target = competent_body(host, db, report, None)
        except ProtectionError:
            continue  # stays visible to operators in `reports list`; nobody else can take it
        row.body_id, row.updated_on = target, on
        if row.identity_part_id is not None and row.identity_state != "disclosed":
            row.identity_state = "not-handed-on"
        for clock in report.clocks:
            if clock.clock_id == f"{PROTECTION_CLOCK_PREFIX}{row.id[:8]}":
                clock.body_id = target
        audit.record(db, "protection.hand-on", actor=actor, report_id=report.id, body_id=target,
                     detail={"request": row.id, "from": left})
        moved.append(row.id)
    return moved


def set_status(db: Session, request: ProtectionRequest, status: str, *, actor: str, on: date) -> None:
    if status not in STATUSES:
        raise ProtectionError(_l("Unknown status %(status)r (one of: %(allowed)s).", status=status, allowed=", ".join(STATUSES)))
    previous, request.status, request.updated_on = request.status, status, on
    audit.record(db, "protection.status", actor=actor, report_id=request.report_id, body_id=request.body_id,
                 detail={"request": request.id, "from": previous, "to": status})
    db.commit()


def consent_to_disclosure(db: Session, request: ProtectionRequest, *, on: date) -> None:
    """The source agrees that the competent body may read the identity they gave."""
    if request.identity_part_id is None:
        raise ProtectionError(_l("No identity was given with this request."))
    request.identity_state, request.updated_on = "consented", on
    audit.record(db, "protection.consent", actor="source", report_id=request.report_id, body_id=request.body_id,
                 detail={"request": request.id})
    db.commit()


def decide_disclosure(
    db: Session, request: ProtectionRequest, *, custodian: str, reason: str, on: date,
    notice_days: int = DISCLOSURE_NOTICE_DAYS,
) -> date:
    """A designated custodian's decision to disclose without consent, with written
    reasons. The source sees the reasons at once; access opens only after the notice
    period. Returns the day it takes effect."""
    if request.identity_part_id is None:
        raise ProtectionError(_l("No identity was given with this request."))
    if len(reason.strip()) < 20:
        raise ProtectionError(_l("A disclosure decision needs written reasons (at least a full sentence)."))
    request.identity_state = "disclosure-pending"
    request.disclosure_reason = reason[:1000]
    request.disclosure_by = custodian[:64]
    request.disclosure_effective_on = on + timedelta(days=notice_days)
    request.updated_on = on
    audit.record(db, "protection.disclosure-decision", actor=f"custodian:{custodian}"[:40], report_id=request.report_id,
                 body_id=request.body_id, detail={"request": request.id, "effective_on": request.disclosure_effective_on.isoformat()})
    db.commit()
    return request.disclosure_effective_on


def download_part(db: Session, recipient: Recipient, request: ProtectionRequest, part_id: str, *, on: date) -> bool:
    """Whether ``part_id`` is the request's details, or its identity once readable; a
    download that may go ahead is recorded in the audit log (committed)."""
    allowed = {request.details_part_id} | ({request.identity_part_id} if identity_readable(request, on=on) else set())
    if part_id not in allowed - {None}:
        return False
    audit.record(db, "protection.download", actor=audit.actor_of(recipient), report_id=request.report_id,
                 body_id=recipient.body_id, detail={"request": request.id, "part": part_id})
    db.commit()
    return True


def identity_readable(request: ProtectionRequest, *, on: date) -> bool:
    """Whether the server may hand the identity part's sealed key to the competent body."""
    if request.identity_state == "consented":
        return True
    return (
        request.identity_state == "disclosure-pending"
        and request.disclosure_effective_on is not None
        and on >= request.disclosure_effective_on
    )


def requests_for_body(db: Session, body_id: str) -> list[ProtectionRequest]:
    """The requests a body handles — none of a report it has left or is in conflict on."""
    query = select(ProtectionRequest).where(ProtectionRequest.body_id == body_id)
    rows = db.scalars(query.order_by(ProtectionRequest.created_on.desc(), ProtectionRequest.id))
    return [r for r in rows if may_handle(r, body_id)]


def may_handle(request: ProtectionRequest, body_id: str) -> bool:
    """A body that recused, was transferred away or is excluded loses the request too."""
    return request.body_id == body_id and body_id not in access.blocked_bodies(request.report)
