"""How the source interface shows routing: who reads a report, who may, who never will."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parrhesia import reports
from parrhesia.clocks import due_date, translated
from parrhesia.crypto import fingerprint
from parrhesia.db import get_session
from parrhesia.host import current_host
from parrhesia.intake import SourceNotice
from parrhesia.models import Report, ReportBody
from parrhesia.routing import SOURCE_EXCLUSION, RouteDecision

__all__ = ["Reader", "RoutingView", "readers", "routing_view", "stored_routing"]


@dataclass(frozen=True)
class Reader:
    body_id: str
    body_name: str
    body_kind: str
    recipients: list[tuple[str, str]]  # (name, fingerprint)


@dataclass(frozen=True)
class RoutingView:
    route: list[Reader]
    escalation: list[Reader]
    excluded: list[tuple[str, str]]  # (body name, reason)
    clocks: list[tuple[str, str, str]]  # (label, due day, legal source)
    notices: list[SourceNotice]
    fallback: bool


def readers(body_ids: Sequence[str] | None = None) -> list[Reader]:
    """Bodies with their recipients' key fingerprints.

    By default: the bodies that receive reports on this instance whatever the routing
    (standing route, last resort) and every body that holds a key here.
    """
    host = current_host()
    directory = host.directory
    if body_ids is None:
        keyed = {r.body_id for r in reports.recipients_of(get_session(), directory.bodies.keys())}
        standing = {*host.config.route, *host.config.last_resort}
        body_ids = sorted(keyed | standing, key=lambda b: directory.bodies[b].name)
    recipients = reports.recipients_of(get_session(), body_ids)
    readers = []
    for body_id in body_ids:
        body = directory.get(body_id)
        if body is None:
            continue
        keys = [(r.name, fingerprint(r.public_key)) for r in recipients if r.body_id == body_id]
        readers.append(Reader(body_id, body.name, body.kind.value, keys))
    return readers


def routing_view(decision: RouteDecision) -> RoutingView:
    directory = current_host().directory
    start = reports.today()
    return RoutingView(
        route=readers(decision.route),
        escalation=readers([s.body_id for s in decision.escalation]),
        excluded=[(directory.bodies[e.body_id].name, e.reason) for e in decision.excluded],
        clocks=[(translated(c.label), due_date(start, c).isoformat(), c.legal_source) for c in decision.clocks],
        notices=list(decision.notices),
        fallback=decision.fallback,
    )


def stored_routing(report: Report) -> RoutingView:
    """The routing stored with a report, for the source's report page."""
    directory = current_host().directory

    def name(body_id: str) -> str:
        body = directory.get(body_id)
        return body.name if body else body_id

    by_role: dict[str, list[str]] = {"route": [], "escalation": [], "excluded": []}
    for row in report.bodies:
        by_role.setdefault(row.role, []).append(row.body_id)
    # Reasons of the core rule and of the source's own choice are worked out again, in
    # the reader's language; a plugin's reason is shown as it was stored.
    answers = {f.name: f.value for f in report.fields if f.name != "exclude"}
    chosen = {f.value for f in report.fields if f.name == "exclude"}
    implicated = answers.get("implicated")
    core = directory.conflicts_of(implicated) if implicated in directory else {}

    def reason(row: ReportBody) -> str:
        return str(core.get(row.body_id) or (SOURCE_EXCLUSION if row.body_id in chosen else row.reason or ""))

    return RoutingView(
        route=readers(by_role["route"]),
        escalation=readers(by_role["escalation"]),
        excluded=[(name(row.body_id), reason(row)) for row in report.bodies if row.role == "excluded"],
        clocks=[(c.label, c.due_on.isoformat(), c.legal_source) for c in report.clocks],
        notices=[],
        fallback=report.fallback_route,
    )
