"""Benchmark: start-up validation and routing over a large directory (issue 3, item 8).

Generates 20 jurisdiction plugins of 500 bodies each (10,000 bodies: an executive five
levels deep, police, prosecution, courts, independent bodies, parliament, regulators,
NGOs, with oversight, appointment and funding relations), registers them on a plugin
manager built like the app's (``make_plugin_manager``), and measures:

- start-up: building the manager and ``load_host`` (directory merge and validation,
  intake fields, protection measures);
- routing one report (``PluginHost.decide``: every routing hook of every plugin, the
  conflict rule, the merge), averaged over reports with random implicated bodies.

Targets: start-up < 2 s, routing < 20 ms per report. This prints figures; it is not a
test (pytest does not collect it). Run it with::

    .venv/bin/python tests/benchmarks/bench_routing.py [--reports 200] [--reference] [--profile]

``--reference`` also enables the ``anticorruption`` and ``eu-directive`` reference
plugins (installed from plugins/), as an instance would; ``--profile`` prints where
routing time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pluggy

import parrhesia.domain.host
from parrhesia.config import InstanceConfig
from parrhesia.contract.manager import make_plugin_manager
from parrhesia.domain.host import PluginHost, load_host
from parrhesia.plugin import (
    Body,
    BodyKind,
    Clock,
    Directory,
    DirectoryContribution,
    EscalationStep,
    Exclusion,
    Relation,
    RelationKind,
    RoutingRequest,
    SourceNotice,
    hookimpl,
)

PLUGINS = 20
BODIES_PER_PLUGIN = 500
TARGET_STARTUP_S = 2.0
TARGET_ROUTING_MS = 20.0
SUBJECTS = ("procurement", "public-funds", "police", "health", "other")


class GeneratedJurisdiction:
    """One generated jurisdiction plugin: its directory, and routing like a real one."""

    def __init__(self, index: int, rng: random.Random) -> None:
        self.jurisdiction = f"j{index:02d}"
        self.bodies: list[Body] = []
        self.relations: list[Relation] = []
        self._generate(rng)
        ids = {b.kind: b.id for b in self.bodies if b.parent is None}
        self.aca = ids[BodyKind.ANTI_CORRUPTION_AGENCY]
        self.ombudsman = ids[BodyKind.OMBUDSMAN]
        self.audit = ids[BodyKind.AUDIT_INSTITUTION]
        self.prosecutor = ids[BodyKind.PROSECUTOR]
        self.police = ids[BodyKind.POLICE]
        self.health_agency = next(b.id for b in self.bodies if b.id.startswith(f"{self.jurisdiction}-m02-d0-a0"))
        independent = [self.aca, self.ombudsman, self.audit, self.prosecutor]
        committees = [b.id for b in self.bodies if b.kind is BodyKind.PARLIAMENT and b.parent is not None]
        ngos = [b.id for b in self.bodies if b.kind is BodyKind.NGO][:3]
        international = [b.id for b in self.bodies if b.kind is BodyKind.INTERNATIONAL]
        self.chain = independent + committees[:2] + international + ngos

    # -- the directory -----------------------------------------------------------------

    def _add(self, key: str, name: str, kind: BodyKind, parent: str | None = None) -> str:
        body_id = f"{self.jurisdiction}-{key}"
        self.bodies.append(Body(body_id, f"{name} ({self.jurisdiction})", kind, self.jurisdiction, parent))
        return body_id

    def _relate(self, source: str, kind: RelationKind, target: str) -> None:
        self.relations.append(Relation(source, kind, target))

    def _generate(self, rng: random.Random) -> None:
        government = self._add("gov", "Government", BodyKind.HEAD_OF_GOVERNMENT)
        ministries = [self._add(f"m{m:02d}", f"Ministry {m}", BodyKind.MINISTRY, government) for m in range(14)]
        interior, finance = ministries[0], ministries[1]
        agencies: list[str] = []
        for m, ministry in enumerate(ministries):  # executive: depth up to 5
            for d in range(3):
                directorate = self._add(f"m{m:02d}-d{d}", f"Directorate {m}.{d}", BodyKind.AGENCY, ministry)
                for a in range(2):
                    agency = self._add(f"m{m:02d}-d{d}-a{a}", f"Agency {m}.{d}.{a}", BodyKind.AGENCY, directorate)
                    agencies.append(agency)
                    for r in range(rng.randint(0, 3)):
                        self._add(f"m{m:02d}-d{d}-a{a}-r{r}", f"Regional office {m}.{d}.{a}.{r}", BodyKind.AGENCY, agency)
        police = self._add("police", "National Police", BodyKind.POLICE)
        self._relate(interior, RelationKind.OVERSEES, police)
        for c in range(8):
            command = self._add(f"police-c{c}", f"Regional command {c}", BodyKind.POLICE, police)
            for s in range(5):
                self._add(f"police-c{c}-s{s}", f"Police station {c}.{s}", BodyKind.POLICE, command)
        prosecutor = self._add("prosecutor", "Prosecutor General", BodyKind.PROSECUTOR)
        self._relate(government, RelationKind.APPOINTS, prosecutor)
        for p in range(10):
            self._add(f"prosecutor-{p}", f"District prosecutor {p}", BodyKind.PROSECUTOR, prosecutor)
        supreme = self._add("court", "Supreme Court", BodyKind.COURT)
        for c in range(4):
            appeal = self._add(f"court-{c}", f"Court of appeal {c}", BodyKind.COURT, supreme)
            for d in range(5):
                self._add(f"court-{c}-{d}", f"District court {c}.{d}", BodyKind.COURT, appeal)
        parliament = self._add("parliament", "Parliament", BodyKind.PARLIAMENT)
        for c in range(10):
            self._add(f"parliament-c{c}", f"Committee {c}", BodyKind.PARLIAMENT, parliament)
        for kind, key, offices in (
            (BodyKind.ANTI_CORRUPTION_AGENCY, "aca", 6),
            (BodyKind.OMBUDSMAN, "ombudsman", 3),
            (BodyKind.AUDIT_INSTITUTION, "audit", 4),
        ):
            head = self._add(key, key.title(), kind)
            self._relate(parliament, RelationKind.APPOINTS, head)
            for o in range(offices):
                self._add(f"{key}-{o}", f"{key.title()} office {o}", kind, head)
        self._add("international", "UN country office", BodyKind.INTERNATIONAL)
        regulators = [self._add(f"regulator-{r}", f"Regulator {r}", BodyKind.REGULATOR) for r in range(10)]
        for regulator in regulators:
            self._relate(rng.choice(ministries), RelationKind.OVERSEES, regulator)
        n = 0
        while len(self.bodies) < BODIES_PER_PLUGIN:
            self._add(f"ngo-{n}", f"Civil-society organisation {n}", BodyKind.NGO)
            n += 1
        ngos = [b.id for b in self.bodies if b.kind is BodyKind.NGO]
        for target in rng.sample(agencies, 10) + rng.sample(ngos, min(10, len(ngos))):
            self._relate(finance, RelationKind.FUNDS, target)

    # -- hooks ---------------------------------------------------------------------------

    @hookimpl
    def parrhesia_directory(self) -> DirectoryContribution:
        return DirectoryContribution(tuple(self.bodies), tuple(self.relations))

    @hookimpl
    def parrhesia_route(self, request: RoutingRequest, directory: Directory) -> list[str]:
        if request.jurisdiction != self.jurisdiction:
            return []
        proposed = {
            "procurement": [self.aca],
            "public-funds": [self.aca, self.audit],
            "police": [self.aca, self.prosecutor],
            "health": [self.aca, self.health_agency],
        }.get(request.subject or "", [])
        if request.implicated and request.implicated in directory:
            proposed = [*proposed, self.aca]
            if self.aca in directory.conflicts_of(request.implicated):
                proposed.append(self.ombudsman)
        return proposed

    @hookimpl
    def parrhesia_conflicts(self, request: RoutingRequest) -> list[Exclusion]:
        if request.jurisdiction == self.jurisdiction and request.subject == "police":
            return [Exclusion(self.police, "police misconduct")]
        return []

    @hookimpl
    def parrhesia_escalation(
        self, request: RoutingRequest, directory: Directory, route: tuple[str, ...]
    ) -> list[EscalationStep]:
        if request.jurisdiction != self.jurisdiction:
            return []
        skip = set(route)
        if request.implicated and request.implicated in directory:
            skip.update(directory.conflicts_of(request.implicated))
        return [EscalationStep(b, 10 * (i + 1), "generated") for i, b in enumerate(self.chain) if b not in skip]

    @hookimpl
    def parrhesia_clocks(self, request: RoutingRequest) -> list[Clock]:
        if request.jurisdiction != self.jurisdiction:
            return []
        return [
            Clock(f"{self.jurisdiction}-acknowledge", "Acknowledge", "Generated Act s.1", days=7),
            Clock(f"{self.jurisdiction}-feedback", "Feedback", "Generated Act s.2", months=3),
        ]

    @hookimpl
    def parrhesia_source_notices(self, request: RoutingRequest) -> list[SourceNotice]:
        if request.jurisdiction != self.jurisdiction:
            return []
        return [SourceNotice(f"{self.jurisdiction}-rights", "Your rights", "Generated text.", "Generated Act s.3")]


def build_manager(plugins: list[GeneratedJurisdiction], reference: bool) -> pluggy.PluginManager:
    """A manager built like the app's: defaults first, then every plugin by name."""
    manager = make_plugin_manager([])
    for plugin in plugins:
        manager.register(plugin, name=plugin.jurisdiction)
    if reference:
        for name, module in (("anticorruption", "parrhesia_anticorruption"), ("eu-directive", "parrhesia_eu_directive")):
            manager.register(importlib.import_module(module), name=name)
    manager.check_pending()
    return manager


@contextmanager
def timed() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    elapsed: list[float] = []
    yield lambda: elapsed[0]
    elapsed.append(time.perf_counter() - start)


def random_requests(directory: Directory, count: int, rng: random.Random) -> list[RoutingRequest]:
    bodies = list(directory.bodies.values())
    requests = []
    for _ in range(count):
        implicated = rng.choice(bodies)
        fields: dict[str, tuple[str, ...]] = {
            "jurisdiction": (implicated.jurisdiction,),
            "implicated": (implicated.id,),
            "subject": (rng.choice(SUBJECTS),),
        }
        if rng.random() < 0.1:
            fields["urgency"] = ("imminent",)
        if rng.random() < 0.2:
            fields["exclude"] = (rng.choice(bodies).id,)
        requests.append(RoutingRequest.from_fields(fields))
    return requests


def time_routing(host: PluginHost, requests: list[RoutingRequest]) -> list[float]:
    host.decide(requests[0])  # warm up
    times = []
    for request in requests:
        start = time.perf_counter()
        host.decide(request)
        times.append((time.perf_counter() - start) * 1000)
    return times


def report_times(label: str, times: list[float]) -> bool:
    ok = statistics.mean(times) < TARGET_ROUTING_MS
    p95 = statistics.quantiles(times, n=20)[-1]
    print(
        f"  {label:<42} mean {statistics.mean(times):6.2f} ms  median {statistics.median(times):6.2f}  "
        f"p95 {p95:6.2f}  max {max(times):6.2f}   {'OK' if ok else 'MISSED'} (target < {TARGET_ROUTING_MS:.0f} ms)"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1937)
    parser.add_argument("--reference", action="store_true", help="also enable anticorruption and eu-directive")
    parser.add_argument("--profile", action="store_true", help="profile routing and print the top functions")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with timed() as generating:
        plugins = [GeneratedJurisdiction(i, rng) for i in range(PLUGINS)]
    bodies = sum(len(p.bodies) for p in plugins)
    relations = sum(len(p.relations) for p in plugins)
    print(f"Generated {PLUGINS} plugins, {bodies} bodies, {relations} relations in {generating():.2f} s"
          f"{' (+ anticorruption, eu-directive)' if args.reference else ''}")

    with tempfile.TemporaryDirectory() as tmp:
        config = InstanceConfig(
            path=Path(tmp),
            name="Benchmark",
            database_url="sqlite://",
            route=(),
            last_resort=(plugins[0].ombudsman, plugins[1].ombudsman),
        )
        with timed() as building:
            manager = build_manager(plugins, args.reference)
        # load_host builds its own manager from entry points; hand it this one instead,
        # so that the real start-up path (merge, validation, intake, measures) is timed.
        with mock.patch.object(parrhesia.domain.host, "make_plugin_manager", lambda enabled: manager), timed() as loading:
            host = load_host(config)
        startup = building() + loading()
        ok_startup = startup < TARGET_STARTUP_S
        print("Start-up")
        print(f"  plugin manager (20 plugins registered)     {building() * 1000:8.1f} ms")
        print(f"  load_host (directory, intake, measures)    {loading() * 1000:8.1f} ms")
        print(f"  total                                      {startup * 1000:8.1f} ms   "
              f"{'OK' if ok_startup else 'MISSED'} (target < {TARGET_STARTUP_S:.0f} s)")

        requests = random_requests(host.directory, args.reports, rng)
        heads = [
            RoutingRequest.from_fields({"jurisdiction": (p.jurisdiction,), "implicated": (f"{p.jurisdiction}-gov",),
                                        "subject": ("procurement",)})
            for p in plugins
        ]
        print(f"Routing (PluginHost.decide, {len(host.manager.get_plugins())} plugins incl. built-ins)")
        ok_random = report_times(f"{args.reports} reports, random implicated body", time_routing(host, requests))
        ok_heads = report_times("20 reports implicating a head of government", time_routing(host, heads))
        decision = host.decide(heads[0])
        print(f"  (a head of government implicated: {len(decision.excluded)} bodies excluded, "
              f"{len(decision.route)} on the route, {len(decision.escalation)} in the escalation chain)")

        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for request in requests + heads:
                host.decide(request)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0 if ok_startup and ok_random and ok_heads else 1


if __name__ == "__main__":
    sys.exit(main())
