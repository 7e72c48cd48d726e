"""Routing: which bodies read a report, which are excluded and why, and who is next.

The server decides, never the browser. Plugins propose bodies, exclusions, escalation
steps, clocks and notices; :func:`decide` merges them and applies the core conflict
rule over the directory (:meth:`Directory.conflicts_of`) plus the source's own
exclusions. The route is never empty and never ends where nobody can read: when
nothing independent is proposed, or a routing plugin fails, the instance's recipient
of last resort is added; when that is in conflict too (the implicated body controls
every domestic body that would receive it: parliament, the head of state), the first
independent body of the escalation chain takes the report. Given the bodies that can
read reports on the instance (``readable``: a body key held by a member), a proposed
body that cannot is set aside as ``waiting`` — the source is told before sending — and
the same rule finds a body that can.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy
from flask_babel import lazy_gettext as _l

from parrhesia.config import InstanceConfig
from parrhesia.contract.clocks import Clock
from parrhesia.contract.clocks import gettext_noop as N_
from parrhesia.contract.directory import Directory
from parrhesia.contract.intake import SourceNotice
from parrhesia.contract.manager import PluginFailure, call_each
from parrhesia.contract.routing_request import (
    LAST_RESORT_RANK,
    URGENCY_IMMINENT,
    URGENCY_NORMAL,
    DutyBody,
    EscalationStep,
    Exclusion,
    RoutingRequest,
)
from parrhesia.domain.fallback_clocks import default_clocks
from parrhesia.domain.route_memory import RouteMemory, fields_key

__all__ = [
    "URGENCY_NORMAL",
    "URGENCY_IMMINENT",
    "RoutingRequest",
    "Exclusion",
    "EscalationStep",
    "DutyBody",
    "RouteDecision",
    "RoutingError",
    "decide",
]

SOURCE_EXCLUSION = _l("you asked that it not receive this report")


class RoutingError(Exception):
    """No body can safely receive the report (an instance configuration problem)."""


@dataclass(frozen=True)
class RouteDecision:
    route: tuple[str, ...]
    excluded: tuple[Exclusion, ...]
    escalation: tuple[EscalationStep, ...]
    clocks: tuple[Clock, ...]
    notices: tuple[SourceNotice, ...]
    fallback: bool
    failures: tuple[PluginFailure, ...]
    duty: tuple[str, ...] = ()  # duty bodies on the route because of imminent danger
    # Bodies that would have received the report but cannot read reports on this
    # instance yet (no body key held by a member): told to the source, never sealed to.
    waiting: tuple[str, ...] = ()
    # Why the route is not what the plugins proposed ("" when it is): shown to the source.
    substitute_reason: str = ""

    def as_dict(self, directory: Directory) -> dict[str, Any]:
        def name(body_id: str) -> str:
            body = directory.get(body_id)
            return str(body.name) if body else body_id

        # str(): plugin texts may be lazy translations.
        return {
            "route": [{"id": b, "name": name(b)} for b in self.route],
            "excluded": [{"id": e.body_id, "name": name(e.body_id), "reason": str(e.reason)} for e in self.excluded],
            "escalation": [
                {"id": s.body_id, "name": name(s.body_id), "rank": s.rank, "reason": str(s.reason)}
                for s in self.escalation
            ],
            "clocks": [
                {"id": c.id, "label": str(c.label), "days": c.days, "months": c.months, "hours": c.hours,
                 "legal_source": str(c.legal_source), "body": c.body_id, "met_by": c.met_by,
                 "extendable_to_months": c.extendable_to_months}
                for c in self.clocks
            ],
            "fallback": self.fallback,
            "waiting": [{"id": b, "name": name(b)} for b in self.waiting],
            "substitute_reason": self.substitute_reason,
            "plugin_failures": [{"plugin": f.plugin, "hook": f.hook, "error": f.error} for f in self.failures],
        }


NOBODY_INDEPENDENT = _l("no body outside the conflict was proposed, so the first independent body of the "
                        "escalation chain receives it")
NOBODY_READABLE_LAST_RESORT = _l("no body proposed for it can read reports on this instance yet, so the recipient of "
                                 "last resort receives it and passes it on to a competent body")
CONFLICTED_LAST_RESORT = _l("every body that would usually receive it is in conflict, so the recipient of last resort, "
                            "outside the conflict, receives it and passes it on to a competent body")
UNPROPOSED_LAST_RESORT = _l("no particular body is competent for it, so the recipient of last resort receives it and "
                            "passes it on to a competent body")
NOBODY_READABLE = _l("no body proposed for it can read reports on this instance yet, so the first independent "
                     "body that can receives it")


def decide(
    manager: pluggy.PluginManager,
    directory: Directory,
    config: InstanceConfig,
    request: RoutingRequest,
    readable: Collection[str] | None = None,
    memory: RouteMemory | None = None,
) -> RouteDecision:
    """Route one report: merge the plugins' answers and apply the conflict rule.

    ``readable``: the bodies that can read reports on the instance (None: not known,
    as in a dry run; every body counts as able to). ``memory``: where each routing
    plugin's answers are remembered, so that a failing plugin's last answer for the
    same fields still routes (None: a dry run remembers nothing).
    """
    def can_read(body_id: str) -> bool:
        return readable is None or body_id in readable

    failures: list[PluginFailure] = []
    common = {"request": request, "directory": directory, "config": config}

    excluded: dict[str, str] = {}
    if request.implicated and request.implicated in directory:
        excluded.update(directory.conflicts_of(request.implicated))
    for body_id in request.excluded_by_source:
        if body_id in directory:
            excluded.setdefault(body_id, SOURCE_EXCLUSION)
    results, conflict_failures = call_each(manager, "parrhesia_conflicts", **common)
    failures += conflict_failures
    for plugin, exclusions in results:
        for exclusion in _list_of(exclusions, Exclusion, plugin, "parrhesia_conflicts", failures):
            if exclusion.body_id in directory:
                excluded.setdefault(exclusion.body_id, exclusion.reason)

    proposed: set[str] = set()
    results, route_failures = call_each(manager, "parrhesia_route", **common)
    failures += route_failures
    key = fields_key(request.fields)
    for plugin, body_ids in results:
        answer = [b for b in _list_of(body_ids, str, plugin, "parrhesia_route", failures)]
        for body_id in answer:
            if body_id in directory:
                proposed.add(body_id)
            else:
                failures.append(PluginFailure(plugin, "parrhesia_route", "UnknownBody"))
        if memory is not None:
            memory.remember(plugin, key, tuple(b for b in answer if b in directory))
    if memory is not None:
        for failure in route_failures:
            # A failing plugin's proposal is not lost: its last answer for the same fields.
            proposed.update(b for b in memory.recall(failure.plugin, key) or () if b in directory)
    duty: dict[str, DutyBody] = {}
    if request.urgency == URGENCY_IMMINENT:
        results, failed = call_each(manager, "parrhesia_duty_bodies", **common)
        failures += failed
        for plugin, assignments in results:
            for assignment in _list_of(assignments, DutyBody, plugin, "parrhesia_duty_bodies", failures):
                if assignment.body_id in directory and assignment.body_id not in excluded:
                    duty.setdefault(assignment.body_id, assignment)
    route = sorted(b for b in proposed | set(duty) if b not in excluded)
    if conflict_failures:
        # A jurisdiction's exclusions are unknown: fail closed. Only the recipient of
        # last resort (outside the core conflict rule) receives the report, and no
        # other key is sealed, so a body the plugin would have excluded never can.
        route, duty = [], {}
    waiting = [b for b in route if not can_read(b)]
    route = [b for b in route if can_read(b)]
    fallback = bool(route_failures or conflict_failures) or not route
    if fallback:
        for body_id in _last_resort(config, directory, excluded, can_read):
            if body_id not in route:
                route.append(body_id)
    route_tuple = tuple(route)

    steps: dict[str, EscalationStep] = {}
    results, failed = call_each(manager, "parrhesia_escalation", route=route_tuple, **common)
    failures += failed
    for plugin, proposed_steps in results if not conflict_failures else []:
        for step in _list_of(proposed_steps, EscalationStep, plugin, "parrhesia_escalation", failures):
            if step.body_id not in directory or step.body_id in excluded or step.body_id in route_tuple:
                continue
            if step.body_id not in steps or step.rank < steps[step.body_id].rank:
                steps[step.body_id] = step
    # The recipients of last resort close every chain: their keys are sealed at
    # submission too, so a report can always move on to them.
    for body_id in config.last_resort:
        if body_id in directory and body_id not in excluded and body_id not in route_tuple and body_id not in steps:
            steps[body_id] = EscalationStep(body_id, LAST_RESORT_RANK, "recipient of last resort")
    ordered = sorted(steps.values(), key=lambda s: (s.rank, s.body_id))
    substitute_reason = ""
    if not route_tuple:
        # Nobody independent (or nobody able to read) was proposed: the first
        # independent body of the chain that can read takes the report, never nobody.
        first = next((s for s in ordered if can_read(s.body_id)), None)
        if first is None:
            raise RoutingError(
                "No body outside the conflict can receive and read this report: configure another "
                "recipient of last resort (instance.last_resort), for example an international body "
                "or an accredited NGO, and make sure its recipients hold its body key."
            )
        route_tuple = (first.body_id,)
        ordered.remove(first)
        substitute_reason = str(NOBODY_READABLE if waiting else NOBODY_INDEPENDENT)
    elif fallback and not (route_failures or conflict_failures):
        # Not a failure: nobody independent or able to read was proposed, so the
        # recipient of last resort receives it (and passes it on to a competent body).
        if waiting:
            substitute_reason = str(NOBODY_READABLE_LAST_RESORT)
        elif proposed & set(excluded):
            substitute_reason = str(CONFLICTED_LAST_RESORT)
        else:
            substitute_reason = str(UNPROPOSED_LAST_RESORT)
    waiting = [b for b in waiting if b not in route_tuple]
    escalation = tuple(ordered)
    duty = {body_id: assignment for body_id, assignment in duty.items() if body_id in route_tuple}

    clocks: dict[str, Clock] = {
        f"duty-{body_id}": Clock(
            id=f"duty-{body_id}"[:64], label=N_("Respond to imminent danger"), legal_source=assignment.legal_source,
            hours=assignment.hours, body_id=body_id, met_by="acknowledge",
        )
        for body_id, assignment in sorted(duty.items())
    }
    results, clock_failures = call_each(manager, "parrhesia_clocks", route=route_tuple, **common)
    for plugin, proposed_clocks in results:
        for clock in _list_of(proposed_clocks, Clock, plugin, "parrhesia_clocks", clock_failures):
            clocks.setdefault(clock.id, clock)
    failures += clock_failures
    if clock_failures:
        # Fail closed: a jurisdiction's deadlines are unknown, so the report gets the
        # instance's default clocks too (marked fallback-…), which `tick` replaces with
        # the plugin's own once it works, keeping the earlier due day of each.
        home = request.jurisdiction or next(
            (body.jurisdiction for b in route_tuple if (body := directory.get(b)) is not None), None)
        for clock in default_clocks(config, home):
            clocks.setdefault(clock.id, clock)

    notices: dict[str, SourceNotice] = {}
    results, failed = call_each(manager, "parrhesia_source_notices", **common)
    failures += failed
    for plugin, proposed_notices in results:
        for notice in _list_of(proposed_notices, SourceNotice, plugin, "parrhesia_source_notices", failures):
            notices.setdefault(notice.id, notice)

    return RouteDecision(
        route=route_tuple,
        excluded=tuple(Exclusion(b, r) for b, r in sorted(excluded.items())),
        escalation=escalation,
        clocks=tuple(clocks.values()),
        notices=tuple(notices.values()),
        fallback=fallback,
        failures=tuple(failures),
        duty=tuple(sorted(duty)),
        waiting=tuple(waiting),
        substitute_reason=substitute_reason,
    )


def _last_resort(
    config: InstanceConfig, directory: Directory, excluded: Mapping[str, str], can_read: Callable[[str], bool]
) -> list[str]:
    """The first recipient of last resort that is not in conflict (never one that is)
    and can read reports."""
    for body_id in config.last_resort:
        if body_id in directory and body_id not in excluded and can_read(body_id):
            return [body_id]
    return []


def _list_of(value: Any, kind: type, plugin: str, hook: str, failures: list[PluginFailure]) -> list[Any]:
    """The items of a plugin's answer that have the right type; record the rest."""
    if not isinstance(value, list | tuple):
        failures.append(PluginFailure(plugin, hook, f"returned {type(value).__name__}, not a list"))
        return []
    good = [item for item in value if isinstance(item, kind)]
    if len(good) != len(value):
        failures.append(PluginFailure(plugin, hook, f"returned items that are not {kind.__name__}"))
    return good
