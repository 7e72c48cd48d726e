"""Who may read which report: the roles of a body in a report, written once.

A body's row in ``report_bodies`` has one role:

* ``route``: it holds the report now and its recipients read it;
* ``escalation``: it may receive it on escalation, in ``rank`` order (its body key was
  sealed to at submission; the server withholds that until escalation triggers);
* ``no-key``: it would have received the report but had no body key on this instance
  when it arrived, so nobody there can read it (the source was told before sending);
* a **blocking** role: ``excluded`` (in conflict, never receives it), ``recused``,
  ``not-competent`` or ``transferred`` (it held the report and left it). A body with a
  blocking role never (again) gains the report, by escalation, transfer or protection
  request.

Every query of "the reports routed to this body" goes through :func:`routed_to`.
"""

from __future__ import annotations

from sqlalchemy import Select, select

from parrhesia.storage.models import Report, ReportBody

__all__ = [
    "ROUTE",
    "ESCALATION",
    "NO_KEY",
    "EXCLUDED",
    "BLOCKING_ROLES",
    "routed_to",
    "route_of",
    "blocked_bodies",
    "holds",
]

ROUTE = "route"
ESCALATION = "escalation"
NO_KEY = "no-key"
EXCLUDED = "excluded"
BLOCKING_ROLES = frozenset({EXCLUDED, "recused", "transferred", "not-competent"})


def routed_to(body_id: str) -> Select[Report]:
    """The reports a body holds now, newest first (filter further with ``.where``)."""
    return (
        select(Report)
        .join(ReportBody, ReportBody.report_id == Report.id)
        .where(ReportBody.body_id == body_id, ReportBody.role == ROUTE)
        .order_by(Report.created_on.desc(), Report.id)
    )


def route_of(report: Report) -> list[str]:
    """The bodies holding the report now."""
    return [b.body_id for b in report.bodies if b.role == ROUTE]


def blocked_bodies(report: Report) -> set[str]:
    """Bodies that may never (again) gain this report."""
    return {b.body_id for b in report.bodies if b.role in BLOCKING_ROLES}


def holds(report: Report, body_id: str) -> bool:
    return body_id in route_of(report)
