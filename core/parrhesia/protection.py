"""The catalogue of protection measures a jurisdiction offers to sources."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ProtectionMeasure"]


@dataclass(frozen=True)
class ProtectionMeasure:
    """A measure a source may ask for (the request workflow is separate)."""

    id: str
    label: str
    description: str
    legal_source: str
    jurisdiction: str | None = None
    body_id: str | None = None  # the body competent to grant it, if known
