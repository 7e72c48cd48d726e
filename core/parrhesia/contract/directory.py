"""The directory: bodies, their chain of command and their relations, as one graph.

Jurisdiction plugins contribute bodies and relations (hook ``parrhesia_directory``);
:func:`build_directory` merges them and refuses, at start-up, duplicate ids, dangling
references and cycles in the chain of command. The merged :class:`Directory` answers
the questions the conflict rule asks: who is above or below a body, and whom it
appoints, funds or oversees.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from flask_babel import lazy_gettext as _l

from parrhesia.config import ConfigError

__all__ = [
    "BodyKind",
    "RelationKind",
    "Body",
    "Relation",
    "DirectoryContribution",
    "Directory",
    "DirectoryError",
    "build_directory",
]

# Why a body is in conflict, by the step that reached it and whether it was reached from
# the implicated body directly; lazy, so each reader sees it in their own language.
_REASONS = {
    ("below", True): "it is below %(via)s in its chain of command",
    ("below", False): "it is below %(via)s in its chain of command, which %(body)s controls",
    ("oversees", True): "it is overseen by %(via)s",
    ("oversees", False): "it is overseen by %(via)s, which %(body)s controls",
    ("appoints", True): "it is appointed by %(via)s",
    ("appoints", False): "it is appointed by %(via)s, which %(body)s controls",
    ("funds", True): "it is funded by %(via)s",
    ("funds", False): "it is funded by %(via)s, which %(body)s controls",
}
# Listed for pybabel, which cannot see through _REASONS.
_MARKERS = [
    _l("it is below %(via)s in its chain of command"),
    _l("it is below %(via)s in its chain of command, which %(body)s controls"),
    _l("it is overseen by %(via)s"),
    _l("it is overseen by %(via)s, which %(body)s controls"),
    _l("it is appointed by %(via)s"),
    _l("it is appointed by %(via)s, which %(body)s controls"),
    _l("it is funded by %(via)s"),
    _l("it is funded by %(via)s, which %(body)s controls"),
]
_BODY_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class BodyKind(StrEnum):
    HEAD_OF_GOVERNMENT = "head of government"
    MINISTRY = "ministry"
    POLICE = "police"
    PROSECUTOR = "prosecutor"
    COURT = "court"
    ANTI_CORRUPTION_AGENCY = "anti-corruption agency"
    OMBUDSMAN = "ombudsman"
    AUDIT_INSTITUTION = "audit institution"
    PARLIAMENT = "parliament"
    REGULATOR = "regulator"
    NGO = "ngo"
    INTERNATIONAL = "international"
    AGENCY = "agency"


class RelationKind(StrEnum):
    """``source`` <kind> ``target``: e.g. the ministry *oversees* the police."""

    OVERSEES = "oversees"
    APPOINTS = "appoints"
    FUNDS = "funds"


class DirectoryError(ConfigError):
    """The merged directory is inconsistent; start-up stops with this message."""


@dataclass(frozen=True)
class Body:
    """An institution that can receive reports, or be implicated in one."""

    id: str
    name: str
    kind: BodyKind
    jurisdiction: str
    parent: str | None = None

    def __post_init__(self) -> None:
        if not _BODY_ID.match(self.id):
            raise DirectoryError(f"body id {self.id!r} must be lowercase letters, digits, '.', '_' or '-'")
        # A plugin may name the kind by its value, a plain string.
        object.__setattr__(self, "kind", _body_kind(self.id, self.kind))


def _body_kind(body_id: str, kind: str) -> BodyKind:
    """The kind named ``kind``; a DirectoryError names the body and the kinds there are."""
    try:
        return BodyKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in BodyKind)
        raise DirectoryError(f"body {body_id!r} has unknown kind {kind!r} (one of: {kinds})") from None


@dataclass(frozen=True)
class Relation:
    source: str
    kind: RelationKind
    target: str

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", RelationKind(self.kind))
        except ValueError:
            raise DirectoryError(
                f"relation {self.source} -> {self.target} has unknown kind {self.kind!r}"
            ) from None


@dataclass(frozen=True)
class DirectoryContribution:
    """What one plugin adds to the directory."""

    bodies: tuple[Body, ...] = ()
    relations: tuple[Relation, ...] = ()


@dataclass(frozen=True)
class Directory:
    """The merged, validated graph of bodies. Build it with :func:`build_directory`."""

    bodies: Mapping[str, Body]
    relations: tuple[Relation, ...]
    _children: Mapping[str, tuple[str, ...]] = field(repr=False)
    _controls: Mapping[str, tuple[tuple[str, RelationKind], ...]] = field(repr=False)

    def __contains__(self, body_id: object) -> bool:
        return body_id in self.bodies

    def __len__(self) -> int:
        return len(self.bodies)

    def get(self, body_id: str) -> Body | None:
        return self.bodies.get(body_id)

    def jurisdictions(self) -> list[str]:
        return sorted({b.jurisdiction for b in self.bodies.values()})

    def in_jurisdiction(self, jurisdiction: str) -> list[Body]:
        return [b for b in self.bodies.values() if b.jurisdiction == jurisdiction]

    def superiors(self, body_id: str) -> list[str]:
        """Bodies above ``body_id`` in its chain of command, nearest first."""
        chain = []
        parent = self.bodies[body_id].parent
        while parent is not None:
            chain.append(parent)
            parent = self.bodies[parent].parent
        return chain

    def controlled_by(self, body_id: str) -> list[tuple[str, RelationKind]]:
        """Bodies that ``body_id`` appoints, funds or oversees, with the relation."""
        return list(self._controls.get(body_id, ()))

    def conflicts_of(self, body_id: str) -> dict[str, str]:
        """Every body in conflict when ``body_id`` is implicated, with the reason.

        The core conflict rule: the body itself; every body above it in its chain of
        command; and its whole sphere of control — every body reachable from it by
        going down a chain of command or along an appoints, funds or oversees
        relation, at any depth (a ministry below an implicated government controls
        the police it oversees, and so does the government).
        """
        body = self.bodies[body_id]
        conflicts: dict[str, str] = {body_id: _l("it is the body implicated (%(body)s)", body=body.name)}
        for superior in self.superiors(body_id):
            conflicts.setdefault(superior, _l("it is above %(body)s in its chain of command", body=body.name))
        queue = [body_id]
        while queue:
            current = queue.pop(0)
            via = self.bodies[current].name
            steps: list[tuple[str, RelationKind | None]] = [(child, None) for child in self._children.get(current, ())]
            steps += list(self._controls.get(current, ()))
            for target, kind in steps:
                if target in conflicts:
                    continue
                direct = current == body_id
                template = _REASONS[(kind.value if kind else "below", direct)]
                conflicts[target] = _l(template, via=via, body=body.name)
                queue.append(target)
        return conflicts


def build_directory(contributions: Iterable[tuple[str, DirectoryContribution]]) -> Directory:
    """Merge plugin contributions (``(plugin name, contribution)``) and validate them."""
    bodies: dict[str, Body] = {}
    origin: dict[str, str] = {}
    relations: list[Relation] = []
    for plugin, contribution in contributions:
        if not isinstance(contribution, DirectoryContribution):
            raise DirectoryError(f"plugin {plugin!r} returned {type(contribution).__name__}, not a DirectoryContribution")
        for body in contribution.bodies:
            if body.id in bodies:
                raise DirectoryError(
                    f"body id {body.id!r} is defined twice (by {origin[body.id]!r} and {plugin!r})"
                )
            bodies[body.id] = body
            origin[body.id] = plugin
        relations.extend(contribution.relations)

    for body in bodies.values():
        if body.parent is not None and body.parent not in bodies:
            raise DirectoryError(f"body {body.id!r} names an unknown parent {body.parent!r}")
    for relation in relations:
        for end in (relation.source, relation.target):
            if end not in bodies:
                raise DirectoryError(
                    f"relation {relation.source} {relation.kind.value} {relation.target} names an unknown body {end!r}"
                )
        if relation.source == relation.target:
            raise DirectoryError(f"body {relation.source!r} cannot {relation.kind.value} itself")
    _refuse_cycles(bodies)

    children: dict[str, list[str]] = defaultdict(list)
    for body in bodies.values():
        if body.parent is not None:
            children[body.parent].append(body.id)
    controls: dict[str, list[tuple[str, RelationKind]]] = defaultdict(list)
    for relation in relations:
        controls[relation.source].append((relation.target, relation.kind))
    return Directory(
        bodies=MappingProxyType(bodies),
        relations=tuple(relations),
        _children=MappingProxyType({k: tuple(v) for k, v in children.items()}),
        _controls=MappingProxyType({k: tuple(v) for k, v in controls.items()}),
    )


def _refuse_cycles(bodies: Mapping[str, Body]) -> None:
    """A chain of command is a forest: following parents must always end."""
    settled: set[str] = set()
    for start in bodies:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = start
        while current is not None and current not in settled:
            if current in on_path:
                cycle = path[path.index(current) :] + [current]
                raise DirectoryError("the chain of command has a cycle: " + " -> ".join(cycle))
            path.append(current)
            on_path.add(current)
            current = bodies[current].parent
        settled.update(path)
