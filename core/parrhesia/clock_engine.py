"""The clock engine: deadlines that enforce themselves, and retention.

``parrhesia tick`` calls :func:`tick` (a systemd timer runs it; ``parrhesia serve
--tick-minutes N`` can too). Every running clock whose due day has passed is marked
missed and the report escalates along its chain. ``--now`` simulates time for tests and
drills; nothing here sleeps or reads the wall clock itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.deadlines import report_day
from parrhesia.escalation import escalate
from parrhesia.events import dispatch
from parrhesia.host import PluginHost
from parrhesia.instance import Instance
from parrhesia.models import Report, ReportClock
from parrhesia.retention import RetentionResult, apply_retention

__all__ = ["TickResult", "tick"]


@dataclass
class TickResult:
    missed: list[tuple[str, str]] = field(default_factory=list)  # (report id, clock id)
    escalated: list[tuple[str, str | None]] = field(default_factory=list)  # (report id, body or None)
    retention: RetentionResult = field(default_factory=RetentionResult)


def tick(host: PluginHost, db: Session, *, on: date | None = None, instance: Instance | None = None) -> TickResult:
    """Mark overdue clocks missed and escalate their reports (one step per report per
    tick); with an instance, also destroy closed reports whose retention has ended.

    ``on`` simulates a day for every report; without it each report is judged by today
    in its jurisdiction's time zone.
    """
    result = TickResult()
    latest = on or max(host.config.today(j) for j in (None, *host.config.timezones))
    if instance is not None:
        result.retention = apply_retention(host, instance, db, on=latest)
    candidates = db.scalars(
        select(ReportClock).where(ReportClock.state == "running", ReportClock.due_on < latest).order_by(ReportClock.id)
    ).all()
    overdue = [c for c in candidates if c.due_on < (on or report_day(host.config, c.report))]
    by_report: dict[str, list[ReportClock]] = {}
    for clock in overdue:
        by_report.setdefault(clock.report_id, []).append(clock)
    for report_id, clocks in by_report.items():
        report = db.get(Report, report_id)
        if report is None:
            continue
        # A closed report is still judged: closing it does not meet a deadline, so one
        # body closing cannot silence the clocks of the others (nobody can bury it).
        for clock in clocks:
            clock.state = "missed"
            result.missed.append((report_id, clock.clock_id))
        day = on or report_day(host.config, report)
        step = escalate(host, db, report, trigger="clock-missed", actor="system", on=day,
                        reason=", ".join(sorted(c.clock_id for c in clocks)))
        result.escalated.append((report_id, step.body_id))
        db.commit()
        dispatch(host, db, step.events, on=day)
    return result
