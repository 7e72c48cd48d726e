"""The deadlines a report gets when a jurisdiction's clocks plugin fails.

A ``parrhesia_clocks`` hook that raises must never leave a report without deadlines
(nothing would ever escalate it). The report then gets the instance's default clocks
for its jurisdiction — ``[[default_clocks]]`` tables in ``parrhesia.toml``, else the
shipped ones below — stored marked as fallback, and ``parrhesia tick`` replaces them
with the plugin's own once it works again, keeping the earlier due day of each
(:func:`parrhesia.domain.clock_engine.tick`). Operators see the failure on the health page and
in ``parrhesia plugins errors``.

A table::

    [[default_clocks]]
    id = "acknowledge"          # stored as "fallback-acknowledge"
    label = "Acknowledge receipt"
    legal_source = "Example Whistleblower Act s.5"
    days = 7                    # and/or months, hours
    met_by = "acknowledge"      # or "feedback"; optional
    jurisdiction = "example"    # optional: only for this jurisdiction's reports
"""

from __future__ import annotations

from typing import Any

from parrhesia.config import ConfigError, InstanceConfig
from parrhesia.contract.clocks import Clock, ClockError
from parrhesia.contract.clocks import gettext_noop as N_

__all__ = ["FALLBACK_PREFIX", "SHIPPED_DEFAULTS", "default_clocks", "check_default_clocks"]

FALLBACK_PREFIX = "fallback-"
# The least any whistleblowing law in DOMAIN.md asks: receipt acknowledged within 7 days
# and feedback within 3 months (Directive 2019/1937 Art 9(1)(b), 9(1)(f)). Deliberately a
# floor, applied only while the jurisdiction's own plugin fails.
SHIPPED_DEFAULTS: tuple[Clock, ...] = (
    Clock(id="fallback-acknowledge", label=N_("Acknowledge receipt"),
          legal_source="Parrhesia default while the jurisdiction's clocks fail (cf. Directive 2019/1937 Art 9(1)(b))",
          days=7, met_by="acknowledge"),
    Clock(id="fallback-feedback", label=N_("Give feedback on the follow-up"),
          legal_source="Parrhesia default while the jurisdiction's clocks fail (cf. Directive 2019/1937 Art 9(1)(f))",
          months=3, met_by="feedback"),
)
_FIELDS = {"id", "label", "legal_source", "days", "months", "hours", "met_by", "jurisdiction", "pausable",
           "extendable_to_months"}


def default_clocks(config: InstanceConfig, jurisdiction: str | None) -> tuple[Clock, ...]:
    """The fallback clocks for a report of ``jurisdiction`` (ids start with ``fallback-``)."""
    configured = _tables(config)
    if not configured:
        return SHIPPED_DEFAULTS
    chosen = [entry for entry in configured if entry.get("jurisdiction") in (None, jurisdiction)]
    return tuple(_clock(entry) for entry in chosen) or SHIPPED_DEFAULTS


def check_default_clocks(config: InstanceConfig) -> None:
    """Refuse, at start-up, a ``[[default_clocks]]`` table that could not be applied."""
    for entry in _tables(config):
        _clock(entry)


def _tables(config: InstanceConfig) -> list[dict[str, Any]]:
    value = config.raw.get("default_clocks", [])
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise ConfigError("default_clocks must be a list of tables ([[default_clocks]])")
    return value


def _clock(entry: dict[str, Any]) -> Clock:
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ConfigError(f"[[default_clocks]] has unknown keys {unknown}")
    try:
        return Clock(
            id=f"{FALLBACK_PREFIX}{entry.get('id', '')}"[:64],
            label=str(entry.get("label", "")),
            legal_source=str(entry.get("legal_source", "")),
            days=int(entry.get("days", 0)),
            months=int(entry.get("months", 0)),
            hours=int(entry.get("hours", 0)),
            met_by=entry.get("met_by"),
            pausable=bool(entry.get("pausable", False)),
            extendable_to_months=entry.get("extendable_to_months"),
        )
    except (ClockError, TypeError, ValueError) as problem:
        raise ConfigError(f"[[default_clocks]] {entry.get('id', '?')!r}: {problem}") from None
