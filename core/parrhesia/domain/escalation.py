"""Escalation: the next independent body gains access, and nobody can take it back.

Triggers: a missed clock (``parrhesia tick``), a recipient recusing or declaring the
report outside its competence, the source asking from their report page, or an
operator's recorded decision. The effect is always the same, decided here once: the
next body of the escalation chain (stored at submission, in rank order) that is not
in conflict and can read the report — its body key was sealed to at submission, so
the server only stops withholding it — gains access, its own clocks start, the step is
written to the audit log, the body is notified (:func:`parrhesia.domain.events.dispatch`),
and the source is shown who has the report now. There is no function to undo it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from parrhesia.contract.clocks import Clock
from parrhesia.contract.events import Event, EventName
from parrhesia.contract.manager import call_each
from parrhesia.domain import access, audit, custody
from parrhesia.domain.deadlines import jurisdiction_of, report_clock
from parrhesia.domain.fallback_clocks import default_clocks
from parrhesia.domain.host import PluginHost
from parrhesia.domain.routing import RoutingRequest
from parrhesia.storage.models import Report, ReportBody, ReportClock, ReportEscalation

__all__ = [
    "TRIGGERS", "SOURCE_REASONS", "Escalation", "escalate", "next_body", "clocks_for", "jurisdiction_clocks", "gain",
    "source_may_ask",
]

TRIGGERS = ("clock-missed", "recusal", "outside-competence", "source-request", "operator")
# What a source may give as the reason for asking: "no-feedback" only once a feedback
# clock has passed; the others at any time.
SOURCE_REASONS = ("no-feedback", "imminent-danger", "collusion")


@dataclass(frozen=True)
class Escalation:
    """Who gained the report (None: the chain is exhausted) and the events to dispatch."""

    body_id: str | None
    events: list[Event] = field(default_factory=list)


def escalate(
    host: PluginHost, db: Session, report: Report, *, trigger: str, actor: str, on: date, reason: str | None = None
) -> Escalation:
    """Give the next independent body access.

    Adds to the session and records the audit entry; the caller commits, then
    dispatches the returned events.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown escalation trigger {trigger!r}")
    target = next_body(host, db, report)
    body_id = target.body_id if target else None
    events: list[Event] = []
    if body_id is not None:
        gain(host, report, body_id, on=on, reason=f"escalation: {trigger}")
        events.append(Event(EventName.REPORT_ESCALATED, report.id, (body_id,)))
    report.escalations.append(
        ReportEscalation(body_id=body_id, trigger=trigger, reason=(reason or "")[:500] or None, on=on)
    )
    report.updated_on = on
    audit.record(db, "escalation", actor=actor, report_id=report.id, body_id=body_id,
                 detail={"trigger": trigger, "exhausted": body_id is None})
    return Escalation(body_id, events)


def gain(host: PluginHost, report: Report, body_id: str, *, on: date, reason: str | None = None) -> list[ReportClock]:
    """A body takes the report (escalation or transfer): it is on the route, its own
    clocks start, and a closed report is reopened (the closure was the previous body's)."""
    for row in list(report.bodies):
        if row.body_id == body_id and row.role in (access.ESCALATION, access.NO_KEY):
            report.bodies.remove(row)
    report.bodies.append(ReportBody(body_id=body_id, role=access.ROUTE, reason=reason))
    started = [
        report_clock(clock, on, body_id=body_id, clock_id=f"{clock.id}@{body_id}")
        for clock in clocks_for(host, report, body_id)
    ]
    report.clocks.extend(started)
    if report.status in ("closed", "junk"):  # the closure, or the junk mark, was the previous body's
        report.status, report.closed_on = "received", None
    report.updated_on = on
    return started


def next_body(host: PluginHost, db: Session, report: Report) -> ReportBody | None:
    """The next step of the chain that can take the report: not in conflict, not on the
    route already, and whose body key the report key was sealed to (a body nobody there
    can read for is skipped, never handed the report)."""
    blocked = access.blocked_bodies(report) | set(access.route_of(report))
    holders = custody.holding_bodies(db, report)
    readable = custody.readable_bodies(db, holders)
    chain = sorted((b for b in report.bodies if b.role == access.ESCALATION), key=lambda b: (b.rank or 0, b.body_id))
    return next(
        (s for s in chain if s.body_id not in blocked and s.body_id in host.directory and s.body_id in readable), None
    )


def source_may_ask(report: Report, reason: str, day: date) -> bool:
    """Whether a source may ask for escalation for this reason today: danger or
    collusion at any time; missing feedback once a feedback deadline has passed, or at
    once when a body marked the report as junk (casework.mark_junk)."""
    if reason not in SOURCE_REASONS:
        return False
    if reason != "no-feedback" or report.status == "junk":  # a body that calls it junk gives no feedback
        return True
    return any(
        c.met_by == "feedback" and (c.state == "missed" or (c.state == "running" and c.due_on < day))
        for c in report.clocks
    )


def clocks_for(host: PluginHost, report: Report, body_id: str) -> list[Clock]:
    """The clocks the jurisdiction attaches for a body that now holds the report; the
    instance's default clocks if the clocks hook fails (a body never gains a report
    without deadlines)."""
    clocks, failed = jurisdiction_clocks(host, report, (body_id,))
    if failed:
        clocks = list(default_clocks(host.config, jurisdiction_of(report)))
    return [c for c in clocks if c.body_id in (None, body_id)]


def jurisdiction_clocks(host: PluginHost, report: Report, route: tuple[str, ...]) -> tuple[list[Clock], bool]:
    """The clocks plugins attach to a stored report for ``route``, and whether the hook
    failed (then the list may be incomplete)."""
    fields: dict[str, tuple[str, ...]] = {}
    for row in report.fields:
        fields[row.name] = (*fields.get(row.name, ()), row.value)
    request = RoutingRequest.from_fields(fields)
    results, failures = call_each(
        host.manager, "parrhesia_clocks", request=request, directory=host.directory, route=route, config=host.config
    )
    clocks: dict[str, Clock] = {}
    failed = bool(failures)
    for _plugin, proposed in results:
        if not isinstance(proposed, list | tuple) or not all(isinstance(c, Clock) for c in proposed):
            failed = True
            continue
        for clock in proposed:
            clocks.setdefault(clock.id, clock)
    return list(clocks.values()), failed
