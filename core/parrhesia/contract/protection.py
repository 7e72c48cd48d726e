"""The catalogue of protection measures a jurisdiction offers to sources."""

from __future__ import annotations

from dataclasses import dataclass

from parrhesia.contract.clocks import Clock

__all__ = ["ProtectionMeasure"]


@dataclass(frozen=True)
class ProtectionMeasure:
    """A measure a source may ask for (see parrhesia.domain.protection_requests).

    ``body_id`` is the body competent to grant it; ``clock`` a deadline that runs from a
    date the source gives, asked with ``date_label`` (e.g. an interim-relief claim
    within 7 days of a dismissal); without ``date_label`` it runs from the request.
    """

    id: str
    label: str
    description: str
    legal_source: str
    jurisdiction: str | None = None
    body_id: str | None = None
    clock: Clock | None = None
    date_label: str | None = None
