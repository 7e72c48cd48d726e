"""What ``parrhesia_retention`` answers: a plain value, no database code.

:mod:`parrhesia.domain.retention` applies the rules (the longest wins) and destroys reports.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RetentionRule"]


@dataclass(frozen=True)
class RetentionRule:
    """Keep a closed report ``days`` after closure, no longer (``legal_source`` says why)."""

    days: int
    legal_source: str

    def __post_init__(self) -> None:
        if self.days < 0:
            raise ValueError("a retention period cannot be negative")
