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

from parrhesia.domain import access, audit
from parrhesia.domain.deadlines import report_clock, report_day
from parrhesia.domain.escalation import escalate, jurisdiction_clocks
from parrhesia.domain.events import dispatch
from parrhesia.domain.fallback_clocks import FALLBACK_PREFIX
from parrhesia.domain.form_tokens import forget_spent
from parrhesia.domain.host import PluginHost
from parrhesia.domain.retention import RetentionResult, apply_retention
from parrhesia.instance import Instance
from parrhesia.storage.models import Report, ReportClock
from parrhesia.storage.orphans import OrphanResult, collect_orphans

__all__ = ["TickResult", "tick"]


@dataclass
class TickResult:
    restored: list[str] = field(default_factory=list)  # reports whose fallback clocks gave way to the plugin's
    missed: list[tuple[str, str]] = field(default_factory=list)  # (report id, clock id)
    escalated: list[tuple[str, str | None]] = field(default_factory=list)  # (report id, body or None)
    retention: RetentionResult = field(default_factory=RetentionResult)
    orphans: OrphanResult = field(default_factory=OrphanResult)


def tick(host: PluginHost, db: Session, *, on: date | None = None, instance: Instance | None = None) -> TickResult:
    """Mark overdue clocks missed and escalate their reports (one step per report per
    tick); with an instance, also destroy closed reports whose retention has ended and
    collect orphan blobs (:mod:`parrhesia.storage.orphans`; judged by the wall clock, not ``on``).

    ``on`` simulates a day for every report; without it each report is judged by today
    in its jurisdiction's time zone.
    """
    result = TickResult()
    latest = on or max(host.config.today(j) for j in (None, *host.config.timezones))
    if instance is not None:
        result.retention = apply_retention(host, instance, db, on=latest)
    result.restored = restore_plugin_clocks(host, db)
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
    forget_spent(db, on=latest)  # form tokens no form can carry any more
    db.commit()
    if instance is not None:  # last: a failing disk never holds up a deadline
        result.orphans = collect_orphans(instance.blobs, db)
    return result


def restore_plugin_clocks(host: PluginHost, db: Session) -> list[str]:
    """Give each report that got the instance's fallback clocks (its clocks plugin
    failed) the plugin's own, once the plugin works: counted from the day of
    submission, each due no later than the fallback clock it replaces (same action),
    and met if that one was met. Returns the reports restored; commits."""
    restored = []
    report_ids = db.scalars(
        select(ReportClock.report_id).where(ReportClock.clock_id.startswith(FALLBACK_PREFIX)).distinct()
    ).all()
    for report_id in report_ids:
        report = db.get(Report, report_id)
        if report is None:
            continue
        specs, failed = jurisdiction_clocks(host, report, tuple(access.route_of(report)))
        if failed:
            continue  # still failing: the fallback clocks keep running
        fallback = [c for c in report.clocks if c.clock_id.startswith(FALLBACK_PREFIX)]
        existing = {c.clock_id for c in report.clocks}
        added = []
        for spec in specs:
            if spec.id in existing:
                continue
            clock = report_clock(spec, report.created_on)
            same = [f for f in fallback if spec.met_by and f.met_by == spec.met_by]
            if same:
                clock.due_on = min(clock.due_on, *(f.due_on for f in same))
                if any(f.state == "met" for f in same):
                    clock.state = "met"
            report.clocks.append(clock)
            added.append(spec.id)
        for clock in fallback:
            report.clocks.remove(clock)
        audit.record(db, "clocks.restored", actor="system", report_id=report.id,
                     detail={"added": added, "replaced": sorted(c.clock_id for c in fallback)})
        db.commit()
        restored.append(report.id)
    return restored
