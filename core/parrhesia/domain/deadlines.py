"""Deadlines on stored reports: the one day policy and the one clock factory.

A report's deadlines are counted in its jurisdiction's days (``[timezones]`` in the
instance configuration, else the instance's ``timezone``): :func:`report_day` is the
only "today" used for a report's clocks — submission, escalation, recusal, pauses,
the review page. :func:`report_clock` is the only place a plugin's :class:`Clock`
specification becomes a clock stored with a report.
"""

from __future__ import annotations

from datetime import date

from parrhesia.config import InstanceConfig
from parrhesia.contract.clocks import Clock, due_date
from parrhesia.storage.models import Report, ReportClock

__all__ = ["jurisdiction_of", "report_day", "report_clock"]


def jurisdiction_of(report: Report) -> str | None:
    return next((f.value for f in report.fields if f.name == "jurisdiction"), None)


def report_day(config: InstanceConfig, report: Report | None = None, *, jurisdiction: str | None = None) -> date:
    """Today where the report's (or the jurisdiction's) deadlines are counted."""
    return config.today(jurisdiction_of(report) if report is not None else jurisdiction)


def report_clock(spec: Clock, start: date, *, body_id: str | None = None, clock_id: str | None = None) -> ReportClock:
    """A running clock from a specification, due counted from ``start``; every field
    of the specification is kept (pausable, extendable, met by)."""
    return ReportClock(
        clock_id=(clock_id or spec.id)[:64],
        label=str(spec.label)[:200],
        legal_source=str(spec.legal_source)[:200],
        body_id=body_id if body_id is not None else spec.body_id,
        due_on=due_date(start, spec),
        extendable_to_months=spec.extendable_to_months,
        met_by=spec.met_by,
        pausable=spec.pausable,
        state="running",
    )
