"""Casework: what recipients do with a report, shared by the web desk and the API.

Every function checks that the report is routed to the recipient's body (a report of
another body is "not found", never "forbidden", so its existence is not revealed),
records the action in the audit log, and commits. Nothing here reads content: replies
and notes arrive sealed (from a recipient's machine or browser) or are sealed here on
receipt, in memory, when the desk is used without JavaScript. Actions that move a
report to another body (recusal, transfer) return the events to dispatch
(:func:`parrhesia.domain.events.dispatch`), so the body that gains it is notified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import IO

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from parrhesia.config import InstanceConfig
from parrhesia.contract.clocks import Clock, due_date
from parrhesia.contract.events import Event, EventName
from parrhesia.domain import access, audit, custody
from parrhesia.domain.deadlines import report_day
from parrhesia.domain.escalation import escalate, gain, next_body
from parrhesia.domain.host import STATUSES as CORE_STATUSES
from parrhesia.domain.host import PluginHost
from parrhesia.domain.parts import Sealing
from parrhesia.instance import Instance
from parrhesia.storage.models import (
    AuditEntry,
    Part,
    Recipient,
    Report,
    ReportBody,
    ReportClock,
    ReportRead,
    SealedKey,
)
from parrhesia.upload.sealed_part import receive_part

__all__ = [
    "STATUSES",
    "audit_trail",
    "CaseworkError",
    "ReportNotFound",
    "inbox",
    "open_report",
    "acknowledge",
    "set_status",
    "mark_junk",
    "JUNK",
    "record_reply",
    "seal_reply",
    "receive_reply",
    "add_note",
    "record_note",
    "visible_parts",
    "download_part",
    "visible_clocks",
    "is_protection_clock",
    "PRIVATE_KINDS",
    "recuse",
    "extend_clock",
    "pause_clock",
    "resume_clock",
    "transfer",
    "InboxFilter",
]

STATUSES = CORE_STATUSES  # a jurisdiction adds its own: PluginHost.statuses
JUNK = "junk"  # set only by mark_junk, never through set_status (it stops clocks)
STOPPED = "stopped"  # a clock's state while its report is marked as junk


class CaseworkError(ValueError):
    """An action that cannot be done, with a message for the recipient."""


class ReportNotFound(CaseworkError):
    """No such report for this recipient's body."""


@dataclass(frozen=True)
class InboxFilter:
    status: str | None = None
    clock: str | None = None  # "overdue", "due-soon" (within 7 days) or None


def inbox(db: Session, recipient: Recipient, config: InstanceConfig, wanted: InboxFilter = InboxFilter()) -> list[Report]:
    """Reports on the route of the recipient's body, newest first, filtered (each due day
    counted from the report's own day, :func:`parrhesia.domain.deadlines.report_day`)."""
    query = access.routed_to(recipient.body_id)
    if wanted.status:
        query = query.where(Report.status == wanted.status)
    reports = list(db.scalars(query))
    if wanted.clock == "overdue":
        reports = [r for r in reports if any(c.state == "running" and c.due_on < report_day(config, r) for c in r.clocks)]
    elif wanted.clock == "due-soon":
        reports = [r for r in reports if _due_within(r, report_day(config, r), days=7)]
    return reports


def _due_within(report: Report, on: date, *, days: int) -> bool:
    return any(c.state == "running" and on <= c.due_on <= on + timedelta(days=days) for c in report.clocks)


def unread(db: Session, recipient: Recipient, report: Report) -> bool:
    seen = db.get(ReportRead, (recipient.id, report.id))
    newest = max((p.seq for p in report.parts if p.author == "source"), default=0)
    return newest > (seen.seen_seq if seen else 0)


def open_report(db: Session, recipient: Recipient, report_id: str, *, audit_open: bool = True) -> Report:
    """The report if it is routed to the recipient's body; records the access."""
    report = db.scalar(access.routed_to(recipient.body_id).where(Report.id == report_id))
    if report is None:
        raise ReportNotFound(_l("No such report for your body."))
    if audit_open:
        newest = max((p.seq for p in report.parts), default=0)
        seen = db.get(ReportRead, (recipient.id, report.id))
        if seen is None:
            db.add(ReportRead(recipient_id=recipient.id, report_id=report.id, seen_seq=newest))
        else:
            seen.seen_seq = newest
        audit.record(db, "open", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id)
        db.commit()
    return report


def _meet(report: Report, action: str, body_id: str) -> list[str]:
    met = []
    for clock in report.clocks:
        if clock.state == "running" and clock.met_by == action and clock.body_id in (None, body_id):
            clock.state = "met"
            met.append(clock.clock_id)
    return met


def acknowledge(db: Session, recipient: Recipient, report: Report, *, on: date) -> None:
    """Acknowledge receipt (meets the acknowledgement clock) on the report's day ``on``."""
    if report.status == "received":
        report.status = "acknowledged"
    met = _meet(report, "acknowledge", recipient.body_id)
    report.updated_on = on
    audit.record(db, "acknowledge", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id,
                 detail={"clocks_met": met})
    db.commit()


def set_status(
    db: Session, recipient: Recipient, report: Report, status: str, allowed: tuple[str, ...] = STATUSES, *, on: date
) -> None:
    if status not in allowed:
        raise CaseworkError(_l("Unknown status %(status)r (one of: %(allowed)s).", status=status, allowed=", ".join(allowed)))
    previous, report.status = report.status, status
    report.updated_on = on
    # The retention period runs from closure; reopening stops it.
    report.closed_on = on if status == "closed" else None
    restarted = _restart_stopped(report, recipient, on) if previous == JUNK else []
    audit.record(db, "status", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id,
                 detail={"from": previous, "to": status, **({"clocks_restarted": restarted} if restarted else {})})
    db.commit()


def mark_junk(db: Session, recipient: Recipient, report: Report, reason: str, *, on: date) -> list[str]:
    """Declare a report not genuine (a flood's junk, say): the body's deadlines on it
    stop, the retention period starts as at closure, and the reason is audited.

    A body cannot bury a real report this way: the source's page says so, and the
    source may ask at once for the next independent body (``escalation.source_may_ask``),
    whose clocks then start; giving the report any other status restarts the stopped
    clocks, the days they stood added to their deadlines. Returns the stopped clocks."""
    if not reason.strip():
        raise CaseworkError(_l("Give the reason for marking the report as junk (it is recorded)."))
    if report.status == JUNK:
        raise CaseworkError(_l("This report is marked as junk already."))
    stopped = []
    for clock in report.clocks:
        if clock.state in ("running", "paused") and clock.body_id in (None, recipient.body_id):
            if clock.state == "running":
                clock.paused_on = on
            clock.state, clock.pause_reason = STOPPED, reason[:500]
            stopped.append(clock.clock_id)
    previous, report.status = report.status, JUNK
    report.updated_on = report.closed_on = on
    audit.record(db, "junk", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id,
                 detail={"from": previous, "clocks_stopped": stopped})
    db.commit()
    return stopped


def _restart_stopped(report: Report, recipient: Recipient, on: date) -> list[str]:
    """The clocks a junk mark stopped run again, as a resumed pause does."""
    restarted = []
    for clock in report.clocks:
        if clock.state == STOPPED and clock.body_id in (None, recipient.body_id):
            clock.due_on += timedelta(days=max((on - clock.paused_on).days, 0) if clock.paused_on else 0)
            clock.state, clock.paused_on, clock.pause_reason = "running", None, None
            restarted.append(clock.clock_id)
    return restarted


def record_reply(
    db: Session, recipient: Recipient, report: Report, *, part_id: str, blob: str, size: int, feedback: bool = False,
    on: date,
) -> Part:
    """Record a reply whose ciphertext is already committed to the blob store."""
    part = Part(id=part_id, report_id=report.id, kind="reply", author="recipient", recipient_id=recipient.id,
                blob=blob, size=size, created_on=on)
    db.add(part)
    _record_reply(db, recipient, report, part, feedback, on)
    db.commit()
    return part


def _record_reply(db: Session, recipient: Recipient, report: Report, part: Part, feedback: bool, on: date) -> None:
    report.updated_on = on
    met = _meet(report, "feedback", recipient.body_id) if feedback else []
    audit.record(db, "reply", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id,
                 detail={"part": part.id, "feedback": feedback, "clocks_met": met})


def receive_reply(
    instance: Instance, db: Session, recipient: Recipient, report: Report, *, part_id: str, stream: IO[bytes],
    feedback: bool = False, on: date,
) -> Part:
    """Store a reply sealed on the recipient's machine or in their browser, streamed
    from a request body; raise :class:`parrhesia.upload.sealed_part.NotAPart` if it is not one."""
    db.commit()  # no transaction stays open while the body arrives (on SQLite: the write lock)
    pending, size = receive_part(stream, instance.blobs, part_id, instance.config.max_submission_bytes)
    try:
        pending.commit()
        return record_reply(db, recipient, report, part_id=part_id, blob=pending.name, size=size, feedback=feedback,
                            on=on)
    except BaseException:
        pending.discard()
        raise


def seal_reply(
    instance: Instance, db: Session, recipient: Recipient, report: Report, text: str, *, feedback: bool = False, on: date
) -> Part:
    """The no-JavaScript path: seal a reply on receipt, in memory, to the report key."""
    if not text.strip():
        raise CaseworkError(_l("The reply is empty."))
    with Sealing(instance, db) as sealing:
        part = sealing.text(report, text, kind="reply", author="recipient", recipient_id=recipient.id, on=on)
        _record_reply(db, recipient, report, part, feedback, on)
    return part


# Parts the conversation view and the recipients' listings never show as such: notes
# belong to the body that wrote them; protection details and identities are reached
# through their protection request, by the competent body only.
PRIVATE_KINDS = frozenset({"note", "protection", "identity"})
PROTECTION_CLOCK_PREFIX = "protection-"


def visible_clocks(report: Report, recipient: Recipient) -> list[ReportClock]:
    """The report's clocks a recipient sees: a protection request's clock only by the
    body handling it (its due day gives away a date the source gave, e.g. a dismissal)."""
    return [c for c in report.clocks if not is_protection_clock(c) or c.body_id == recipient.body_id]


def is_protection_clock(clock: ReportClock) -> bool:
    return clock.clock_id.startswith(PROTECTION_CLOCK_PREFIX)


def visible_parts(report: Report, recipient: Recipient) -> list[Part]:
    """The parts a recipient of a body holding the report sees in it."""
    return [
        p for p in report.parts
        if p.kind not in PRIVATE_KINDS or (p.kind == "note" and p.body_id == recipient.body_id)
    ]


def audit_trail(db: Session, report: Report, recipient: Recipient) -> tuple[list[AuditEntry], AuditEntry | None]:
    """The report's audit entries a recipient of a body holding it sees, in chain order,
    and the head of the whole chain: every entry about the report except those of a
    protection request another body handles (hidden like its clock, :func:`visible_clocks`)."""
    entries, head = audit.of_report(db, report.id)
    visible = [e for e in entries if not e.action.startswith("protection.") or e.body_id == recipient.body_id]
    return visible, head


def download_part(db: Session, recipient: Recipient, report: Report, part_id: str) -> Part:
    """A part the recipient may see, its download recorded in the audit log (committed);
    :class:`ReportNotFound` if the report has no such part for them."""
    part = next((p for p in visible_parts(report, recipient) if p.id == part_id), None)
    if part is None:
        raise ReportNotFound(_l("No such part in this report."))
    audit.record(db, "download", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id,
                 detail={"part": part.id})
    db.commit()
    return part


def add_note(instance: Instance, db: Session, recipient: Recipient, report: Report, text: str, *, on: date) -> Part:
    """An internal note sealed on the server on receipt (the no-JavaScript path).

    The note gets its own keypair, whose private key is sealed to the body's key: every
    present and future member of the body reads it; neither the source nor another
    body can.
    """
    if not text.strip():
        raise CaseworkError(_l("The note is empty."))
    if custody.current_key(db, recipient.body_id) is None:
        raise CaseworkError(_l("Your body has no key yet, so a note could not be read by anyone."))
    with Sealing(instance, db) as sealing:
        part, note_key = sealing.text_with_own_key(report, text, kind="note", author="recipient",
                                                   recipient_id=recipient.id, body_id=recipient.body_id, on=on)
        custody.seal_part_key(db, report, part.id, note_key, recipient.body_id, holder="note")
        _audit_note(db, recipient, report, part)
    return part


def record_note(
    instance: Instance, db: Session, recipient: Recipient, report: Report, *, part_id: str, blob: bytes,
    generation: int, sealed: bytes, on: date,
) -> Part:
    """Store a note sealed on the recipient's machine: the blob, the part, and the note
    key sealed there to the body key of generation ``generation`` (the current one)."""
    key = custody.current_key(db, recipient.body_id)
    if key is None or key.generation != generation:
        raise CaseworkError(_l("Your body's key changed: fetch it again and seal the note again."))
    with Sealing(instance, db) as sealing:
        sealing.blob(part_id, blob)
        part = Part(id=part_id, report_id=report.id, kind="note", author="recipient", recipient_id=recipient.id,
                    blob=part_id, size=len(blob), created_on=on, body_id=recipient.body_id)
        db.add(part)
        db.add(SealedKey(report_id=report.id, holder="note", part_id=part_id, body_key_id=key.id, sealed=sealed))
        _audit_note(db, recipient, report, part)
    return part


def _audit_note(db: Session, recipient: Recipient, report: Report, part: Part) -> None:
    audit.record(db, "note", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id,
                 detail={"part": part.id})


def recuse(
    host: PluginHost, db: Session, recipient: Recipient, report: Report, reason: str, *, outside_competence: bool = False
) -> tuple[list[str], list[Event]]:
    """Declare a conflict of interest (or that the report is outside this body's
    competence): this body loses access at once, and the report escalates to the next
    body of its chain that is not in conflict and can read it; refused, changing
    nothing, when no other body could read it. Returns the bodies that gained access
    and the events to dispatch."""
    if not reason.strip():
        raise CaseworkError(_l("Give a reason for the recusal."))
    body_id = recipient.body_id
    others = [b for b in access.route_of(report) if b != body_id]
    if not others and next_body(host, db, report) is None:
        raise CaseworkError(_l(
            "No other independent body could read this report if your body left it. It stays with "
            "your body; tell the instance's operators, who can record a decision."
        ))
    day = report_day(host.config, report)
    _leave_route(db, report, body_id, "not-competent" if outside_competence else "recused", reason)
    action = "outside-competence" if outside_competence else "recusal"
    audit.record(db, action, actor=audit.actor_of(recipient), report_id=report.id, body_id=body_id)
    step = escalate(host, db, report, trigger=action, actor=audit.actor_of(recipient), on=day, reason=reason)
    _hand_on_protection(host, db, report, body_id, audit.actor_of(recipient), day)
    db.commit()
    return ([step.body_id] if step.body_id else []), step.events


def extend_clock(db: Session, recipient: Recipient, report: Report, clock_id: str, months: int, reason: str) -> None:
    """Extend a running clock where the jurisdiction allows it, with a recorded reason
    (e.g. feedback from 3 to 6 months in duly justified cases, Directive 2019/1937 Art 11(2)(d))."""
    clock = next((c for c in report.clocks if c.clock_id == clock_id and c.state == "running"), None)
    if clock is None or clock.body_id not in (None, recipient.body_id):
        raise CaseworkError(_l("No such running clock for your body."))
    if clock.extendable_to_months is None:
        raise CaseworkError(_l("The law attached to this deadline allows no extension."))
    if not reason.strip():
        raise CaseworkError(_l("Give the reason that justifies the extension."))
    if not 0 < months <= clock.extendable_to_months:
        raise CaseworkError(_l("This deadline can be extended to at most %(months)s months.", months=clock.extendable_to_months))
    previous = clock.due_on
    clock.due_on = due_date(report.created_on, Clock(id="extension", label="", legal_source="-", months=months))
    if clock.due_on <= previous:
        clock.due_on = previous
        raise CaseworkError(_l("An extension must move the deadline later."))
    clock.extension_reason = reason[:500]
    audit.record(db, "clock.extend", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id,
                 detail={"clock": clock_id, "from": previous.isoformat(), "to": clock.due_on.isoformat()})
    db.commit()


def transfer(
    host: PluginHost,
    db: Session,
    recipient: Recipient,
    report: Report,
    target: str,
    reason: str,
    sealed: tuple[int, bytes] | None = None,
) -> list[Event]:
    """Transfer the report to another body, with a reason; this body loses access.

    The target must not be in conflict and must be able to read the report: either
    the report key was sealed to its body key at submission (a body of the escalation
    chain), or the transferring recipient sealed it on their own machine or in their
    browser to the target's current body key and sends ``sealed`` (generation, sealed
    key); the server cannot seal a key it never holds. Checks everything before
    changing anything. Returns the events to dispatch.
    """
    if not reason.strip():
        raise CaseworkError(_l("Give a reason for the transfer."))
    if target not in host.directory:
        raise CaseworkError(_l("No body %(body)r in the directory.", body=target))
    if target in access.blocked_bodies(report):
        raise CaseworkError(_l("That body is in conflict for this report and can never receive it."))
    if access.holds(report, target):
        raise CaseworkError(_l("That body already has this report."))
    if target not in custody.readable_bodies(db, [target]):
        raise CaseworkError(_l("That body has no key on this instance yet: nobody there could read the report."))
    if target not in custody.holding_bodies(db, report):
        if sealed is None:
            raise CaseworkError(_l(
                "That body cannot open this report yet: transfer it from your own machine "
                "(`parrhesia desk transfer`) or with the desk's key unlocked, which seals the key for it."
            ))
        try:
            custody.accept_sealed_report_key(db, report, target, *sealed)
        except custody.CustodyError as problem:
            raise CaseworkError(str(problem)) from None
    day = report_day(host.config, report)
    _leave_route(db, report, recipient.body_id, "transferred", reason)
    gain(host, report, target, on=day, reason="transfer")
    _hand_on_protection(host, db, report, recipient.body_id, audit.actor_of(recipient), day)
    audit.record(db, "transfer", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id,
                 detail={"to": target})
    db.commit()
    return [Event(EventName.REPORT_TRANSFERRED, report.id, (target,))]


def _hand_on_protection(host: PluginHost, db: Session, report: Report, left: str, actor: str, day: date) -> None:
    """Protection requests a leaving body handled go on to another body (never orphaned)."""
    from parrhesia.domain.protection_requests import hand_on

    hand_on(host, db, report, left, actor=actor, on=day)


def pause_clock(db: Session, recipient: Recipient, report: Report, clock_id: str, reason: str, *, on: date) -> None:
    """Stop a running clock where the jurisdiction allows it, with a recorded reason."""
    clock = _clock_of(report, recipient, clock_id, "running")
    if not clock.pausable:
        raise CaseworkError(_l("The law attached to this deadline does not allow stopping it."))
    if not reason.strip():
        raise CaseworkError(_l("Give the reason for stopping the deadline."))
    clock.state, clock.paused_on, clock.pause_reason = "paused", on, reason[:500]
    audit.record(db, "clock.pause", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id,
                 detail={"clock": clock_id})
    db.commit()


def resume_clock(db: Session, recipient: Recipient, report: Report, clock_id: str, *, on: date) -> None:
    """Restart a paused clock; the days it was paused are added to its deadline."""
    clock = _clock_of(report, recipient, clock_id, "paused")
    paused_for = (on - clock.paused_on).days if clock.paused_on else 0
    clock.due_on += timedelta(days=max(paused_for, 0))
    clock.state, clock.paused_on = "running", None
    audit.record(db, "clock.resume", actor=audit.actor_of(recipient), report_id=report.id, body_id=recipient.body_id,
                 detail={"clock": clock_id, "paused_days": paused_for, "due_on": clock.due_on.isoformat()})
    db.commit()


def _clock_of(report: Report, recipient: Recipient, clock_id: str, state: str) -> ReportClock:
    clock = next((c for c in report.clocks if c.clock_id == clock_id and c.state == state), None)
    if clock is None or clock.body_id not in (None, recipient.body_id):
        raise CaseworkError(_l("No such deadline in that state for your body."))
    return clock


def _leave_route(db: Session, report: Report, body_id: str, role: str, reason: str) -> None:
    row = next((b for b in report.bodies if b.body_id == body_id and b.role == "route"), None)
    if row is None:
        raise ReportNotFound(_l("No such report for your body."))
    report.bodies.remove(row)
    db.flush()
    report.bodies.append(ReportBody(body_id=body_id, role=role, reason=reason[:500]))
