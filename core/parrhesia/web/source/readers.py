"""How the source interface shows routing: who reads a report, who may, who never will.

Every body is shown with its body key's fingerprint and the members who hold it, each
with who vouched for them (:mod:`parrhesia.domain.custody`), so that a source — and anyone
checking on the source's behalf — sees exactly whose keys a report is sealed to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from parrhesia.contract.clocks import due_date, translated
from parrhesia.contract.intake import SourceNotice
from parrhesia.domain import access, custody
from parrhesia.domain.host import current_host
from parrhesia.domain.routing import SOURCE_EXCLUSION, RouteDecision
from parrhesia.storage.db import get_session
from parrhesia.storage.models import Report, ReportBody

__all__ = ["Reader", "RoutingView", "readers", "routing_view", "stored_routing"]


@dataclass(frozen=True)
class Reader:
    body_id: str
    body_name: str
    body_kind: str
    key_fingerprint: str | None  # None: the body has no key here, nobody there can read
    members: list[custody.Voucher]

    @property
    def recipients(self) -> list[tuple[str, str]]:
        """(name, key fingerprint) of each member holding the body key."""
        return [(m.member, m.fingerprint) for m in self.members]


@dataclass(frozen=True)
class RoutingView:
    route: list[Reader]
    escalation: list[Reader]
    excluded: list[tuple[str, str]]  # (body name, reason)
    clocks: list[tuple[str, str, str]]  # (label, due day, legal source)
    notices: list[SourceNotice]
    fallback: bool
    waiting: list[Reader]  # would receive it, but cannot read reports here yet
    substitute_reason: str = ""


def readers(body_ids: Sequence[str] | None = None) -> list[Reader]:
    """Bodies with their body key and its holders.

    By default: the bodies that receive reports on this instance whatever the routing
    (standing route, last resort) and every body that holds a key here.
    """
    host = current_host()
    directory = host.directory
    db = get_session()
    if body_ids is None:
        keyed = set(custody.current_keys(db))
        standing = {*host.config.route, *host.config.last_resort}
        body_ids = sorted((keyed | standing) & set(directory.bodies), key=lambda b: directory.bodies[b].name)
    views = custody.body_key_view(db, body_ids)
    found = []
    for body_id in body_ids:
        body = directory.get(body_id)
        if body is None:
            continue
        view = views.get(body_id)
        found.append(Reader(body_id, body.name, body.kind.value, view.fingerprint if view else None,
                            list(view.members) if view else []))
    return found


def routing_view(decision: RouteDecision, start: date) -> RoutingView:
    """What the confirmation page shows; due days counted from ``start`` (the day the
    report would be submitted, in its jurisdiction), as they will be stored."""
    directory = current_host().directory
    return RoutingView(
        route=readers(decision.route),
        escalation=readers([s.body_id for s in decision.escalation]),
        excluded=[(directory.bodies[e.body_id].name, e.reason) for e in decision.excluded],
        clocks=[(translated(c.label), due_date(start, c).isoformat(), c.legal_source) for c in decision.clocks],
        notices=list(decision.notices),
        fallback=decision.fallback,
        waiting=readers(decision.waiting),
        substitute_reason=decision.substitute_reason,
    )


def stored_routing(report: Report) -> RoutingView:
    """The routing stored with a report, for the source's report page: who has it now,
    who may get it next, who never will."""
    directory = current_host().directory

    def name(body_id: str) -> str:
        body = directory.get(body_id)
        return body.name if body else body_id

    by_role: dict[str, list[str]] = {access.ROUTE: [], access.ESCALATION: [], access.NO_KEY: []}
    for row in sorted(report.bodies, key=lambda b: (b.rank or 0, b.body_id)):
        by_role.setdefault(row.role, []).append(row.body_id)
    # Reasons of the core rule and of the source's own choice are worked out again, in
    # the reader's language; a plugin's reason is shown as it was stored.
    answers = {f.name: f.value for f in report.fields if f.name != "exclude"}
    chosen = {f.value for f in report.fields if f.name == "exclude"}
    implicated = answers.get("implicated")
    core = directory.conflicts_of(implicated) if implicated is not None and implicated in directory else {}

    def reason(row: ReportBody) -> str:
        return str(core.get(row.body_id) or (SOURCE_EXCLUSION if row.body_id in chosen else row.reason or ""))

    return RoutingView(
        route=readers(by_role[access.ROUTE]),
        escalation=readers(by_role[access.ESCALATION]),
        excluded=[(name(row.body_id), reason(row)) for row in report.bodies if row.role == access.EXCLUDED],
        clocks=[(c.label, c.due_on.isoformat(), c.legal_source) for c in report.clocks],
        notices=[],
        fallback=report.fallback_route,
        waiting=readers(by_role[access.NO_KEY]),
    )
