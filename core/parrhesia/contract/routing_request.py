"""What a routing hook is asked and what it answers: plain values, no database or web code.

A :class:`RoutingRequest` carries the routing fields a source chose; plugins answer it
with body ids, :class:`Exclusion` s, :class:`EscalationStep` s and :class:`DutyBody` s,
which :func:`parrhesia.domain.routing.decide` merges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "URGENCY_NORMAL",
    "URGENCY_IMMINENT",
    "LAST_RESORT_RANK",
    "RoutingRequest",
    "Exclusion",
    "EscalationStep",
    "DutyBody",
]

URGENCY_NORMAL = "normal"
URGENCY_IMMINENT = "imminent"
# The rank of the recipient of last resort on the escalation chain: a plugin's steps
# rank below it.
LAST_RESORT_RANK = 1000


@dataclass(frozen=True)
class RoutingRequest:
    """The routing fields a source chose: all the server knows about a report."""

    jurisdiction: str | None = None
    implicated: str | None = None
    subject: str | None = None
    urgency: str = URGENCY_NORMAL
    excluded_by_source: tuple[str, ...] = ()
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, fields: Mapping[str, tuple[str, ...]]) -> RoutingRequest:
        def one(name: str) -> str | None:
            values = fields.get(name, ())
            return values[0] if values and values[0] else None

        return cls(
            jurisdiction=one("jurisdiction"),
            implicated=one("implicated"),
            subject=one("subject"),
            urgency=one("urgency") or URGENCY_NORMAL,
            excluded_by_source=tuple(v for v in fields.get("exclude", ()) if v),
            fields=dict(fields),
        )


@dataclass(frozen=True)
class Exclusion:
    body_id: str
    reason: str


@dataclass(frozen=True)
class EscalationStep:
    body_id: str
    rank: int
    reason: str = ""


@dataclass(frozen=True)
class DutyBody:
    """A body on duty for imminent danger, and how many hours it has to respond."""

    body_id: str
    hours: int
    legal_source: str

    def __post_init__(self) -> None:
        if self.hours <= 0:
            raise ValueError("a duty body needs a positive number of hours")
