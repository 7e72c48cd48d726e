"""Parrhesia plugin: escalation chains through bodies independent of the implicated one.

When the bodies on a report's route miss a deadline, declare a conflict, or the source
asks, the report goes to the next body of its escalation chain. This plugin builds that
chain for any jurisdiction from the kinds of the bodies in the directory, ordered by
independence from the executive (DOMAIN.md, "Escalation paths"):

1. specialised anti-corruption agency   (UNCAC Art 36 (verify))
2. ombudsman, appointed by parliament
3. supreme audit institution
4. prosecutor
5. parliamentary body
6. international body (from any jurisdiction; the report's own first)
7. accredited civil-society organisation (Directive 2019/1937 Art 15, as a last step
   before public disclosure)

Bodies in conflict with the implicated body are never proposed (an escalation target is
valid only outside the implicated body's chain of command and not appointed, funded or
overseen by it), nor are bodies the source excluded or bodies already on the route.
The core drops such bodies too; this plugin does not rely on it.

Within a kind, only the head of an institution is proposed (a body whose parent is of
another kind): its units are reached through it.
"""

from __future__ import annotations

from collections import defaultdict

from parrhesia.plugin import Body, BodyKind, Directory, EscalationStep, RoutingRequest, hookimpl
from parrhesia.plugin import gettext_noop as N_

__all__ = ["RANK_STEP", "TIERS", "parrhesia_escalation"]

# Ranks leave room between tiers, so that another plugin can slot a body in between
# (e.g. OLAF at 550 for reports about EU funds).
RANK_STEP = 100

# Each tier's reason, as stored with a report (in English) and shown in the reader's
# language through this plugin's catalogues (translations/): the plain reason, and the
# one used when a body is implicated.
TIERS: tuple[tuple[BodyKind, str, str], ...] = (
    (BodyKind.ANTI_CORRUPTION_AGENCY, N_("a specialised anti-corruption agency"),
     N_("a specialised anti-corruption agency, outside the implicated body's control")),
    (BodyKind.OMBUDSMAN, N_("an ombudsman, appointed by parliament"),
     N_("an ombudsman, appointed by parliament, outside the implicated body's control")),
    (BodyKind.AUDIT_INSTITUTION, N_("the supreme audit institution"),
     N_("the supreme audit institution, outside the implicated body's control")),
    (BodyKind.PROSECUTOR, N_("a prosecutor"), N_("a prosecutor, outside the implicated body's control")),
    (BodyKind.PARLIAMENT, N_("a parliamentary body"), N_("a parliamentary body, outside the implicated body's control")),
    (BodyKind.INTERNATIONAL, N_("an international body"),
     N_("an international body, outside the implicated body's control")),
    (BodyKind.NGO, N_("an accredited civil-society organisation"),
     N_("an accredited civil-society organisation, outside the implicated body's control")),
)
_TIER_OF = {kind: tier for tier, (kind, _, _) in enumerate(TIERS, start=1)}


@hookimpl
def parrhesia_escalation(request: RoutingRequest, directory: Directory, route: tuple[str, ...]) -> list[EscalationStep]:
    home = _jurisdictions(request, directory, route)
    skip = set(route) | set(request.excluded_by_source)
    if request.implicated is not None and request.implicated in directory:
        skip.update(directory.conflicts_of(request.implicated))

    # One pass over the directory: it may hold tens of thousands of bodies.
    candidates: dict[BodyKind, list[Body]] = defaultdict(list)
    for body in directory.bodies.values():
        if body.kind not in _TIER_OF or body.id in skip:
            continue
        if body.jurisdiction not in home and body.kind is not BodyKind.INTERNATIONAL:
            continue
        if body.parent is not None and directory.bodies[body.parent].kind is body.kind:
            continue  # a unit of an institution of the same kind
        candidates[body.kind].append(body)

    steps = []
    for kind, plain, outside in TIERS:
        reason = outside if request.implicated else plain
        ordered = sorted(candidates[kind], key=lambda b: (b.jurisdiction not in home, b.id))
        base = _TIER_OF[kind] * RANK_STEP
        for position, body in enumerate(ordered[: RANK_STEP - 1]):
            steps.append(EscalationStep(body.id, base + position, reason))
    return steps


def _jurisdictions(request: RoutingRequest, directory: Directory, route: tuple[str, ...]) -> frozenset[str]:
    """The report's jurisdiction: chosen by the source, else the implicated body's, else
    those of the bodies on the route."""
    if request.jurisdiction is not None:
        return frozenset((request.jurisdiction,))
    implicated = directory.get(request.implicated) if request.implicated else None
    if implicated is not None:
        return frozenset((implicated.jurisdiction,))
    return frozenset(body.jurisdiction for b in route if (body := directory.get(b)) is not None)
