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

from nacl.public import PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia import audit
from parrhesia.casework import PROTECTION_CLOCK_PREFIX
from parrhesia.clocks import due_date
from parrhesia.crypto import encrypt_bytes, seal_report_key
from parrhesia.host import PluginHost
from flask_babel import lazy_gettext as _l
from parrhesia.instance import Instance
from parrhesia.models import Part, ProtectionRequest, Report, ReportClock, SealedKey
from parrhesia.notifications import enqueue_for_bodies
from parrhesia.protection import ProtectionMeasure
from parrhesia.reports import recipients_of

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
]

STATUSES = ("requested", "in-progress", "granted", "refused", "referred", "withdrawn")
DISCLOSURE_NOTICE_DAYS = 10
_BLOCKING_ROLES = ("excluded", "recused", "transferred", "not-competent")


class ProtectionError(ValueError):
    """A protection request that cannot be made or changed, with a clear message."""


def competent_body(host: PluginHost, db: Session, report: Report, measure: ProtectionMeasure) -> str:
    """The measure's competent body; if it is in conflict or has nobody to read the
    request, a body already holding the report, then the next of its chain."""
    blocked = {b.body_id for b in report.bodies if b.role in _BLOCKING_ROLES}
    staffed = {r.body_id for r in recipients_of(db, host.directory.bodies.keys())}
    candidates = [measure.body_id] if measure.body_id else []
    candidates += [b.body_id for b in sorted(report.bodies, key=lambda b: (b.role != "route", b.rank or 0, b.body_id))
                   if b.role in ("route", "escalation")]
    for body_id in candidates:
        if body_id and body_id in host.directory and body_id not in blocked and body_id in staffed:
            return body_id
    raise ProtectionError(_l("No independent body can handle this request on this instance."))


def _seal_part(
    instance: Instance, db: Session, report: Report, text: str, kind: str, holders: list[tuple[int | None, bytes]]
) -> str:
    """Encrypt a text to a fresh keypair whose private key is sealed to each holder
    ``(recipient id, or None for the report key; public key)``."""
    part_key = PrivateKey.generate()
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(text.encode("utf-8"), bytes(part_key.public_key), report.id, part_id, {"kind": kind})
    with instance.blobs.writing(part_id) as pending:
        pending.file.write(blob)
    db.add(Part(id=part_id, report_id=report.id, kind=kind, author="source", blob=part_id, size=len(blob),
                created_on=report.updated_on))
    for recipient_id, public_key in holders:
        db.add(SealedKey(report_id=report.id, holder=kind if recipient_id is not None else "report", part_id=part_id,
                         recipient_id=recipient_id, sealed=seal_report_key(part_key, public_key)))
    return part_id


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
) -> ProtectionRequest:
    """Record a source's request; seal its details and (optional) identity. Commits."""
    measure = next((m for m in host.measures if m.id == measure_id), None)
    if measure is None:
        raise ProtectionError(_l("This protection measure is not offered here."))
    if measure.date_label and from_date is None:
        raise ProtectionError(_l("Please give the date asked for: %(label)s.", label=measure.date_label))
    if from_date is not None and from_date > on:
        raise ProtectionError(_l("The date cannot be in the future."))
    body_id = competent_body(host, db, report, measure)
    recipients = recipients_of(db, [body_id])
    report.updated_on = on
    request = ProtectionRequest(
        id=secrets.token_hex(16), report_id=report.id, measure_id=measure.id, body_id=body_id,
        status="requested", created_on=on, updated_on=on, identity_state="none",
    )
    written: list[str] = []
    try:
        if details.strip():
            # Details: the competent body, and the report key (the source sees them).
            request.details_part_id = _seal_part(
                instance, db, report, details, "protection",
                [(r.id, r.public_key) for r in recipients] + [(None, report.public_key)],
            )
            written.append(request.details_part_id)
        if identity.strip():
            # Identity: the competent body's recipients only; withheld by the server.
            request.identity_part_id = _seal_part(
                instance, db, report, identity, "identity", [(r.id, r.public_key) for r in recipients]
            )
            written.append(request.identity_part_id)
            request.identity_state = "withheld"
        if measure.clock is not None:
            start = from_date or on
            report.clocks.append(ReportClock(
                clock_id=f"{PROTECTION_CLOCK_PREFIX}{request.id[:8]}", label=str(measure.clock.label)[:200],
                legal_source=str(measure.clock.legal_source)[:200], body_id=body_id,
                due_on=due_date(start, measure.clock), state="running", met_by=measure.clock.met_by,
            ))
        db.add(request)
        enqueue_for_bodies(db, [body_id], "new-message", on=on)
        audit.record(db, "protection.request", actor="source", report_id=report.id, body_id=body_id,
                     detail={"request": request.id, "measure": measure.id, "identity_given": bool(identity.strip())})
        db.commit()
    except BaseException:
        db.rollback()
        for part_id in written:
            instance.blobs.delete(part_id)
        raise
    return request


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
    return request.body_id == body_id and not any(
        b.body_id == body_id and b.role in _BLOCKING_ROLES for b in request.report.bodies
    )
