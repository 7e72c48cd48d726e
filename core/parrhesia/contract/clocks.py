"""Clocks: legal deadlines a jurisdiction attaches to a report.

A plugin returns :class:`Clock` specifications; the core computes due dates from the
day of submission (source activity is kept at day precision) and stores them with the
report. Running them (missed clocks, escalation) is the clock engine's work.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext

from parrhesia.config import ConfigError

__all__ = ["MET_BY", "Clock", "ClockError", "due_date", "gettext_noop", "translated"]

MET_BY = ("acknowledge", "feedback")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class ClockError(ConfigError):
    """A clock specification that cannot be used."""


def gettext_noop(text: str) -> str:
    """Mark ``text`` for translation without translating it (pybabel: ``-k N_``).

    For text that is stored as written and translated where it is shown: a clock's
    label is kept with each report in English, and the source's review page and the
    desk show it through ``gettext``. Import it as ``N_``.
    """
    return text


def translated(text: str) -> str:
    """Stored text marked with :func:`gettext_noop`, in the reader's language.

    Empty stays empty: gettext would answer "" with its catalogue's header.
    """
    return gettext(text) if text else text


@dataclass(frozen=True)
class Clock:
    """A deadline: ``days`` and/or ``months`` after submission (``hours`` for urgent paths).

    ``label`` is plain English marked with :func:`gettext_noop` (``N_``), not a lazy
    string: it is stored with the report and translated where it is shown.

    ``body_id`` names the body that must act (None: every body on the route);
    ``extendable_to_months`` is the longest the deadline may be extended to with a
    recorded reason, where the law allows it (e.g. Directive 2019/1937 Art 11(2)(d));
    ``pausable`` lets a body stop the clock with a recorded reason (e.g. while a
    source's requested reflection period runs) and restart it, the days of the pause
    added to the deadline.
    """

    id: str
    label: str
    legal_source: str
    days: int = 0
    months: int = 0
    hours: int = 0
    body_id: str | None = None
    extendable_to_months: int | None = None
    met_by: str | None = None  # the desk action that meets it: "acknowledge" or "feedback"
    pausable: bool = False  # the law lets the body stop the clock, with a recorded reason

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ClockError(f"clock id {self.id!r} must be lowercase letters, digits, '.', '_' or '-'")
        if min(self.days, self.months, self.hours) < 0 or not (self.days or self.months or self.hours):
            raise ClockError(f"clock {self.id!r} needs a positive duration")
        if not self.legal_source:
            raise ClockError(f"clock {self.id!r} must name its legal source")
        if self.met_by not in (None, *MET_BY):
            raise ClockError(f"clock {self.id!r}: met_by must be one of {MET_BY}")


def due_date(start: date, clock: Clock) -> date:
    """The day a clock falls due; hours round up to whole days (day precision)."""
    year, month = divmod(start.month - 1 + clock.months, 12)
    year, month = start.year + year, month + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    hours_as_days = -(-clock.hours // 24)
    return date(year, month, day) + timedelta(days=clock.days + hours_as_days)
