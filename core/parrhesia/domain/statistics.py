"""Statistics for operators and public annual reports, safe to publish.

Published statistics never identify a reporter or the person concerned (DOMAIN.md):
every count that leaves this module has gone through :func:`suppress`, the one place
where the disclosure rules are enforced, and the web page, the CSV export and the
command line all print the :class:`Statistics` built here, never a raw count.

The rules:

* Whole years only (no month, week or day), and the public page shows only completed
  years: a running count published day by day would tell, by difference, what the
  latest report was about.
* Within a table, categories with fewer than 5 reports are merged into "other".
* A count from 1 to 4 is printed as ``<5``.
* Complementary suppression: when exactly one cell of a table is ``<5``, the smallest
  other cell is withheld too (printed ``5+``), so that the small one cannot be worked
  out by subtracting the others from the total, or from another table.
* A share or a median is printed only when every count it is computed from could
  itself be printed.

Definitions:

* A report belongs to the year in which it was received (``created_on``).
* **Acknowledged in time**: among reports with an acknowledgement clock (``met_by``
  "acknowledge", e.g. 7 days under Directive 2019/1937 Art 9(1)(b)), those whose every
  such clock was met on or before its due day; **late**: any such clock missed, met
  after its due day, or still running past it; **not yet due**: the rest. The day a
  clock was met is the day of the audit entry that met it (``clocks_met``); a clock in
  state "met" without such an entry counts as met in time.
* **Days to feedback**: from the day a report was received to the day of the first
  reply recorded with ``feedback=true`` in the audit log (the reply that meets feedback
  clocks), in whole days; the median is over the reports of the year that have had
  feedback, whenever it came.
* **Escalated**: a report with at least one escalation step recorded; "escalations by
  body" counts each (report, body that gained access) once, "chain exhausted" when no
  independent body was left.
"""

from __future__ import annotations

import json
import statistics as pystats
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import cast

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from parrhesia.domain import demographics
from parrhesia.domain.host import PluginHost
from parrhesia.storage.models import AuditEntry, Report

__all__ = [
    "THRESHOLD",
    "SMALL",
    "WITHHELD",
    "OTHER",
    "Cell",
    "Table",
    "Measure",
    "Statistics",
    "suppress",
    "compile_statistics",
    "completed_years",
    "csv_rows",
]

THRESHOLD = 5
SMALL = "<5"  # a count from 1 to 4
WITHHELD = "5+"  # a count of 5 or more, withheld so that a small one cannot be derived
OTHER = "other"


@dataclass(frozen=True)
class Cell:
    """One published figure: ``value`` is None when it is suppressed; ``shown`` is what
    every output prints."""

    key: str
    label: str
    value: int | None
    shown: str


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    cells: tuple[Cell, ...]
    total: Cell | None  # only for tables whose categories partition the reports

    @property
    def largest(self) -> int:
        return max((c.value for c in self.cells if c.value is not None), default=0)


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    shown: str | None  # None: too few reports to publish it


@dataclass(frozen=True)
class Statistics:
    year: int
    reports: Cell
    tables: tuple[Table, ...]
    measures: tuple[Measure, ...]
    demographics: tuple[Table, ...]


def suppress(
    counts: Mapping[str, int],
    label: Callable[[str], str],
    *,
    merge_small: bool = True,
    total: int | None = None,
) -> tuple[tuple[Cell, ...], Cell | None]:
    """Apply the disclosure rules to one table of counts; return its cells and total.

    ``merge_small`` merges categories below the threshold into "other" (off for tables
    of fixed categories such as yes/no). ``total`` is given for tables whose
    categories partition a population; it is printed, so it takes part in the rules.
    """
    kept = {key: n for key, n in counts.items() if n > 0}
    if merge_small:
        small = [key for key, n in kept.items() if n < THRESHOLD and key != OTHER]
        if small:
            kept[OTHER] = kept.get(OTHER, 0) + sum(kept.pop(key) for key in small)
    suppressed = {key for key, n in kept.items() if n < THRESHOLD}
    withheld: set[str] = set()
    if len(suppressed) == 1:
        others = sorted((n, key) for key, n in kept.items() if key not in suppressed)
        if others:
            withheld.add(others[0][1])

    def cell(key: str, n: int, text: str) -> Cell:
        if key in suppressed:
            return Cell(key, text, None, SMALL)
        if key in withheld:
            return Cell(key, text, None, WITHHELD)
        return Cell(key, text, n, str(n))

    ordered = sorted(kept.items(), key=lambda item: (item[0] == OTHER, -item[1], label(item[0])))
    cells = tuple(cell(key, n, _("Other") if key == OTHER else label(key)) for key, n in ordered)
    total_cell = None
    if total is not None:
        total_cell = Cell("total", _("Total"), None, SMALL) if 0 < total < THRESHOLD else Cell("total", _("Total"), total, str(total))
    return cells, total_cell


def completed_years(db: Session, *, on: date) -> list[int]:
    """Years that have ended and in which the instance received reports, newest first."""
    first = db.scalar(select(Report.created_on).order_by(Report.created_on).limit(1))
    if first is None:
        return []
    return list(range(on.year - 1, first.year - 1, -1))


def compile_statistics(db: Session, host: PluginHost, year: int, *, on: date) -> Statistics:
    """The published statistics of the reports received in ``year`` (``on``: today)."""
    reports = list(
        db.scalars(
            select(Report)
            .where(Report.created_on >= date(year, 1, 1), Report.created_on <= date(year, 12, 31))
            .options(selectinload(Report.fields), selectinload(Report.bodies), selectinload(Report.clocks),
                     selectinload(Report.escalations))
        )
    )
    audit = _audit_days(db, [r.id for r in reports])
    body_name = _body_namer(host)
    total = len(reports)

    def table(key: str, title: str, counts: Mapping[str, int], label: Callable[[str], str], *,
              merge_small: bool = True, partition: bool = True) -> Table:
        cells, total_cell = suppress(counts, label, merge_small=merge_small, total=total if partition else None)
        return Table(key, title, cells, total_cell)

    escalated = Counter("escalated" if r.escalations else "not-escalated" for r in reports)
    by_body = Counter(
        body for r in reports for body in {e.body_id or "chain-exhausted" for e in r.escalations}
    )
    acknowledgement = Counter(
        outcome for r in reports if (outcome := _acknowledgement(r, audit, on)) is not None
    )
    ack_cells, ack_total = suppress(acknowledgement, _ACK_LABELS, merge_small=False,
                                    total=sum(acknowledgement.values()))
    feedback_days = [d for r in reports if (d := _days_to_feedback(r, audit)) is not None]

    tables = (
        table("jurisdiction", _("Reports by jurisdiction"), _field_counts(reports, "jurisdiction"), _field_label(host, "jurisdiction")),
        table("subject", _("Reports by subject"), _field_counts(reports, "subject"), _field_label(host, "subject")),
        table("status", _("Reports by status"), Counter(r.status for r in reports), _STATUS_LABELS),
        table("route", _("Reports by receiving body"),
              Counter(b for r in reports for b in {x.body_id for x in r.bodies if x.role == "route"}),
              body_name, partition=False),
        table("escalated", _("Reports escalated to another body"), escalated, _ESCALATED_LABELS, merge_small=False),
        table("escalation", _("Escalations by the body that received the report"), by_body,
              lambda key: _("No independent body left") if key == "chain-exhausted" else body_name(key),
              partition=False),
        table("fallback", _("Reports routed by the fallback route after a plugin failure"),
              Counter("fallback" if r.fallback_route else "planned" for r in reports), _FALLBACK_LABELS,
              merge_small=False),
        Table("acknowledgement", _("Acknowledgement within the legal deadline"), ack_cells, ack_total),
    )
    measures = (
        Measure("acknowledged-in-time", _("Share of reports acknowledged in time"), _share(ack_cells)),
        Measure("reports-with-feedback", _("Reports with feedback"), _single("feedback", "", len(feedback_days)).shown),
        Measure("median-days-to-feedback", _("Median days from receipt to feedback"),
                _median(feedback_days)),
    )
    return Statistics(
        year=year,
        reports=_single("reports", _("Reports received"), total),
        tables=tables,
        measures=measures,
        demographics=_demographic_tables(db, year),
    )


def csv_rows(stats: Statistics) -> Iterable[list[str]]:
    """Rows of the CSV export (header first): what the page shows, as data."""
    yield ["year", "table", "category", "count"]
    yield [str(stats.year), "reports", "total", stats.reports.shown]
    for table in (*stats.tables, *stats.demographics):
        for cell in table.cells:
            yield [str(stats.year), table.key, cell.key, cell.shown]
        if table.total is not None:
            yield [str(stats.year), table.key, "total", table.total.shown]
    for measure in stats.measures:
        yield [str(stats.year), "measure", measure.key, measure.shown if measure.shown is not None else ""]


# --- the figures ---------------------------------------------------------------------

def _labeller(labels: Mapping[str, object]) -> Callable[[str], str]:
    """Look a category's label up when it is printed (in the request's language)."""
    return lambda key: str(labels.get(key, key))


_ACK_LABELS = _labeller({
    "in-time": _l("Acknowledged in time"),
    "late": _l("Acknowledged late or not at all"),
    "not-yet-due": _l("Not yet due"),
})
_ESCALATED_LABELS = _labeller({"escalated": _l("Escalated"), "not-escalated": _l("Not escalated")})
_FALLBACK_LABELS = _labeller({"fallback": _l("Fallback route"), "planned": _l("Route decided by the plugins")})
_STATUS_LABELS = _labeller({
    "received": _l("Received"),
    "acknowledged": _l("Acknowledged"),
    "assessing": _l("Being assessed"),
    "investigating": _l("Under investigation"),
    "referred": _l("Referred"),
    "closed": _l("Closed"),
})


def _field_counts(reports: list[Report], name: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for report in reports:
        values = {f.value for f in report.fields if f.name == name}
        counts.update(values or {"not-given"})
    return counts


def _field_label(host: PluginHost, name: str) -> Callable[[str], str]:
    field = next((f for f in host.intake_fields if f.name == name), None)
    labels = {c.value: str(c.label) for c in field.choices} if field else {}

    def label(value: str) -> str:
        if value == "not-given":
            return cast(str, _("Not given"))  # flask_babel's gettext returns str; it has no type information
        return labels.get(value, value)

    return label


def _body_namer(host: PluginHost) -> Callable[[str], str]:
    def name(body_id: str) -> str:
        body = host.directory.get(body_id)
        return body.name if body else body_id

    return name


def _audit_days(db: Session, report_ids: list[str]) -> dict[str, list[tuple[str, date, dict[str, object]]]]:
    """The acknowledge and reply entries of these reports: (action, day, detail)."""
    found: dict[str, list[tuple[str, date, dict[str, object]]]] = {}
    for start in range(0, len(report_ids), 500):
        chunk = report_ids[start:start + 500]
        entries = db.scalars(
            select(AuditEntry)
            .where(AuditEntry.report_id.in_(chunk), AuditEntry.action.in_(("acknowledge", "reply")))
            .order_by(AuditEntry.seq)
        )
        for entry in entries:
            try:
                detail = json.loads(entry.detail)
                day = date.fromisoformat(entry.at[:10])
            except ValueError:
                continue
            if isinstance(detail, dict) and entry.report_id is not None:
                found.setdefault(entry.report_id, []).append((entry.action, day, detail))
    return found


def _acknowledgement(report: Report, audit: Mapping[str, list[tuple[str, date, dict[str, object]]]], on: date) -> str | None:
    clocks = [c for c in report.clocks if c.met_by == "acknowledge"]
    if not clocks:
        return None
    met_on: dict[str, date] = {}
    for _action, day, detail in audit.get(report.id, ()):
        met = detail.get("clocks_met")
        for clock_id in met if isinstance(met, list) else ():
            met_on.setdefault(str(clock_id), day)
    outcomes = set()
    for clock in clocks:
        if clock.state == "met":
            met_day = met_on.get(clock.clock_id)
            outcomes.add("late" if met_day is not None and met_day > clock.due_on else "in-time")
        elif clock.state == "missed" or clock.due_on < on:
            outcomes.add("late")
        else:
            outcomes.add("not-yet-due")
    for outcome in ("late", "not-yet-due", "in-time"):
        if outcome in outcomes:
            return outcome
    return None


def _days_to_feedback(report: Report, audit: Mapping[str, list[tuple[str, date, dict[str, object]]]]) -> int | None:
    days = [day for action, day, detail in audit.get(report.id, ()) if action == "reply" and detail.get("feedback") is True]
    return (min(days) - report.created_on).days if days else None


def _share(cells: tuple[Cell, ...]) -> str | None:
    values = {c.key: c.value for c in cells}
    in_time, late = values.get("in-time", 0), values.get("late", 0)
    if in_time is None or late is None or not (in_time or late):
        return None  # a suppressed count would be recoverable from the share
    return f"{round(100 * in_time / (in_time + late))}%"


def _single(key: str, label: str, count: int) -> Cell:
    """A figure on its own (a table of one cell), through the same rules."""
    cells, _total = suppress({key: count}, lambda _key: label, merge_small=False)
    return cells[0] if cells else Cell(key, label, 0, "0")


def _median(days: list[int]) -> str | None:
    if len(days) < THRESHOLD:
        return None
    middle = pystats.median(days)
    return f"{middle:g}"


def _demographic_tables(db: Session, year: int) -> tuple[Table, ...]:
    counts = demographics.yearly_counts(db, year)
    tables = []
    for question in demographics.QUESTIONS:
        answers = counts.get(question.name, {})
        cells, total = suppress(answers, question.label_of, total=sum(answers.values()))
        tables.append(Table(f"demographics-{question.name}", str(question.label), cells, total))
    return tuple(tables)
