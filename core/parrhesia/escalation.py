"""Escalation: the next independent body gains access, and nobody can take it back.

Triggers: a missed clock (``parrhesia tick``), a recipient recusing or declaring the
report outside its competence, the source asking from their report page, or an
operator's recorded decision. The effect is always the same, decided here once: the
next body of the escalation chain (stored at submission, in rank order) that is not
in conflict gains access — its recipients already hold the report key, sealed at
submission, so the server only stops withholding it — its own clocks start, the step
is written to the audit log and shown to the source. There is no function to undo it.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia import audit
from parrhesia.clocks import Clock, due_date
from parrhesia.host import PluginHost
from parrhesia.models import Recipient, Report, ReportBody, ReportClock, ReportEscalation, SealedKey
from parrhesia.plugins import call_each
from parrhesia.routing import RoutingRequest

__all__ = ["TRIGGERS", "SOURCE_REASONS", "escalate", "next_body", "clocks_for"]

TRIGGERS = ("clock-missed", "recusal", "outside-competence", "source-request", "operator")
# What a source may give as the reason for asking: "no-feedback" only once a feedback
# clock has passed; the others at any time.
SOURCE_REASONS = ("no-feedback", "imminent-danger", "collusion")
_BLOCKING_ROLES = ("excluded", "recused", "transferred", "not-competent")


def escalate(
    host: PluginHost, db: Session, report: Report, *, trigger: str, actor: str, on: date, reason: str | None = None
) -> str | None:
    """Give the next independent body access; return its id (None if the chain is exhausted).

    Adds to the session and records the audit entry; the caller commits.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown escalation trigger {trigger!r}")
    target = next_body(host, db, report)
    body_id = target.body_id if target else None
    if target is not None:
        report.bodies.remove(target)
        db.flush()
        report.bodies.append(ReportBody(body_id=target.body_id, role="route", reason=f"escalation: {trigger}"))
        for clock in clocks_for(host, report, target.body_id):
            report.clocks.append(
                ReportClock(
                    clock_id=f"{clock.id}@{target.body_id}"[:64],
                    label=str(clock.label)[:200],
                    legal_source=str(clock.legal_source)[:200],
                    body_id=target.body_id,
                    due_on=due_date(on, clock),
                    extendable_to_months=clock.extendable_to_months,
                    met_by=clock.met_by,
                    pausable=clock.pausable,
                    state="running",
                )
            )
    if target is not None and report.status == "closed":
        # A body that gains a report gets it open: the closure was the previous body's.
        report.status, report.closed_on = "received", None
    report.escalations.append(
        ReportEscalation(body_id=body_id, trigger=trigger, reason=(reason or "")[:500] or None, on=on)
    )
    report.updated_on = on
    audit.record(db, "escalation", actor=actor, report_id=report.id, body_id=body_id,
                 detail={"trigger": trigger, "exhausted": body_id is None})
    return body_id


def next_body(host: PluginHost, db: Session, report: Report) -> ReportBody | None:
    """The next step of the chain that can take the report: not in conflict, not on the
    route already, and with a recipient holding the key sealed at submission (a body
    nobody there can read for is skipped, never handed the report)."""
    roles = {(b.body_id, b.role) for b in report.bodies}
    blocked = {body for body, role in roles if role in _BLOCKING_ROLES or role == "route"}
    holders = set(db.scalars(
        select(Recipient.body_id)
        .join(SealedKey, SealedKey.recipient_id == Recipient.id)
        .where(SealedKey.report_id == report.id, SealedKey.holder == "recipient", Recipient.active.is_(True))
    ))
    chain = sorted((b for b in report.bodies if b.role == "escalation"), key=lambda b: (b.rank or 0, b.body_id))
    return next(
        (s for s in chain if s.body_id not in blocked and s.body_id in host.directory and s.body_id in holders), None
    )


def clocks_for(host: PluginHost, report: Report, body_id: str) -> list[Clock]:
    """The clocks the jurisdiction attaches for a body that now holds the report."""
    fields: dict[str, tuple[str, ...]] = {}
    for row in report.fields:
        fields[row.name] = (*fields.get(row.name, ()), row.value)
    request = RoutingRequest.from_fields(fields)
    results, _failures = call_each(
        host.manager, "parrhesia_clocks", request=request, directory=host.directory, route=(body_id,), config=host.config
    )
    clocks: dict[str, Clock] = {}
    for _plugin, proposed in results:
        for clock in proposed if isinstance(proposed, list | tuple) else ():
            if isinstance(clock, Clock) and clock.body_id in (None, body_id):
                clocks.setdefault(clock.id, clock)
    return list(clocks.values())
