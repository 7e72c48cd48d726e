"""``parrhesia reports list`` and ``parrhesia statistics``: what operators may see.

Operators can read no report. ``reports list`` shows each report's metadata — routing
answers, route, escalations, clocks, status, protection requests — and never content:
no message, attachment, filename, reply or note, and no free text a recipient wrote
about a case (a recusal or transfer reason, a clock extension reason).
``statistics`` prints the same suppressed figures as the public page.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from parrhesia.cli.common import instance_option, load_instance
from parrhesia.domain.casework import is_protection_clock
from parrhesia.domain.statistics import SMALL, WITHHELD, Statistics, compile_statistics, csv_rows
from parrhesia.storage.models import PluginError, ProtectionRequest, Report, ReportEscalation

__all__ = ["reports", "statistics", "report_metadata"]

# Escalation reasons that are codes or clock ids, never prose: shown as they are.
_CODED_TRIGGERS = frozenset({"clock-missed", "source-request"})
# Roles whose reason the routing core wrote (a conflict); other roles' reasons are a
# recipient's own words and are withheld.
_SYSTEM_REASON_ROLES = frozenset({"excluded", "escalation"})


@click.group()
def reports() -> None:
    """Reports as operators see them: metadata only, never content."""


@reports.command("list")
@instance_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per report).")
def list_reports(instance_dir: Path, as_json: bool) -> None:
    """List every report's routing, escalations, clocks and status (no content)."""
    instance = load_instance(instance_dir)
    with Session(instance.engine) as db:
        rows = [report_metadata(db, r) for r in _all_reports(db)]
    instance.dispose()
    if as_json:
        click.echo(json.dumps({"reports": rows}, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("No reports.")
    for row in rows:
        clocks = ", ".join(f"{c['clock_id']} {c['state']} (due {c['due_on']})" for c in row["clocks"]) or "none"
        escalated = " → ".join(e["body_id"] or "(chain exhausted)" for e in row["escalations"]) or "no"
        click.echo(f"{row['id']}  {row['created_on']}  {row['status']}")
        click.echo(f"  route: {', '.join(row['route']) or '-'}{'  (fallback route)' if row['fallback_route'] else ''}")
        answers = ", ".join(f"{name}={'/'.join(values)}" for name, values in row["fields"].items())
        click.echo(f"  fields: {answers or '-'}")
        click.echo(f"  excluded: {', '.join(e['body_id'] for e in row['excluded']) or '-'}  escalated: {escalated}")
        click.echo(f"  clocks: {clocks}")
        if row["protection_requests"]:
            click.echo(f"  protection requests: {len(row['protection_requests'])}")


def report_metadata(db: Session, report: Report) -> dict[str, Any]:
    """One report's metadata for operators, as JSON-ready data; never content."""
    fields: dict[str, list[str]] = {}
    for field in report.fields:
        fields.setdefault(field.name, []).append(field.value)
    by_role: dict[str, list[dict[str, Any]]] = {}
    for body in report.bodies:
        entry: dict[str, Any] = {"body_id": body.body_id}
        if body.rank is not None:
            entry["rank"] = body.rank
        if body.role in _SYSTEM_REASON_ROLES and body.reason:
            entry["reason"] = body.reason
        by_role.setdefault(body.role, []).append(entry)
    return {
        "id": report.id,
        "created_on": report.created_on.isoformat(),
        "updated_on": report.updated_on.isoformat(),
        "status": report.status,
        "fields": fields,
        "route": [b["body_id"] for b in by_role.get("route", [])],
        "escalation_chain": sorted(by_role.get("escalation", []), key=lambda b: (b.get("rank") or 0, b["body_id"])),
        "excluded": by_role.get("excluded", []),
        # Bodies that left the route (recused, transferred, not competent): no reason,
        # since a recipient wrote it.
        "left_route": [{"body_id": b["body_id"], "role": role} for role, rows in sorted(by_role.items())
                       if role not in ("route", "escalation", "excluded") for b in rows],
        "escalations": [_escalation(e) for e in report.escalations],
        "clocks": [
            {
                "clock_id": c.clock_id,
                "label": c.label,
                "legal_source": c.legal_source,
                "body_id": c.body_id,
                # A protection clock's due day gives away a date the source gave.
                "due_on": None if is_protection_clock(c) else c.due_on.isoformat(),
                "state": c.state,
                "met_by": c.met_by,
                "extended": c.extension_reason is not None,
            }
            for c in report.clocks
        ],
        "protection_requests": [_protection_request(p) for p in report.protection_requests],
        "fallback_route": report.fallback_route,
        "legal_hold": report.legal_hold,
        "closed_on": _day(report.closed_on),
        "plugin_errors": len(db.scalars(select(PluginError.id).where(PluginError.report_id == report.id)).all()),
    }


@click.command("statistics")
@instance_option
@click.option("--year", type=int, default=None, help="The year (default: this year, so far).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV, as /statistics.csv does.")
def statistics(instance_dir: Path, year: int | None, as_csv: bool) -> None:
    """Print the statistics of a year, with the same suppression as the public page."""
    from parrhesia.domain.host import load_host

    instance = load_instance(instance_dir)
    host = load_host(instance.config)
    with Session(instance.engine) as db:
        stats = compile_statistics(db, host, year or instance.config.today().year, on=instance.config.today())
    instance.dispose()
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        for row in csv_rows(stats):
            writer.writerow(row)
        return
    _print_statistics(stats)


def _print_statistics(stats: Statistics) -> None:
    click.echo(f"Statistics for {stats.year}: {stats.reports.label} {stats.reports.shown}")
    click.echo(f"({SMALL}: a count from 1 to 4; {WITHHELD}: a count of 5 or more withheld so that a smaller "
               "one cannot be worked out; categories under 5 are counted as Other)")
    for measure in stats.measures:
        click.echo(f"{measure.label}: {measure.shown if measure.shown is not None else 'too few reports to publish'}")
    for table in (*stats.tables, *stats.demographics):
        click.echo("")
        click.echo(table.title)
        for cell in table.cells:
            click.echo(f"  {cell.label:<48} {cell.shown:>6}")
        if table.total is not None:
            click.echo(f"  {table.total.label:<48} {table.total.shown:>6}")


def _all_reports(db: Session) -> list[Report]:
    options = [selectinload(relation) for relation in (
        Report.fields, Report.bodies, Report.clocks, Report.escalations, Report.protection_requests
    )]
    return list(db.scalars(select(Report).options(*options).order_by(Report.created_on, Report.id)))


def _escalation(step: ReportEscalation) -> dict[str, Any]:
    entry: dict[str, Any] = {"on": _day(step.on), "trigger": step.trigger, "body_id": step.body_id}
    if step.reason and step.trigger in _CODED_TRIGGERS:
        entry["reason"] = step.reason
    return entry


def _protection_request(request: ProtectionRequest) -> dict[str, Any]:
    """A protection request's metadata: never its details, the identity a source gave,
    or a custodian's written reasons; only whether an identity was given and its state."""
    return {
        "id": request.id,
        "measure_id": request.measure_id,
        "body_id": request.body_id,
        "status": request.status,
        "created_on": _day(request.created_on),
        "updated_on": _day(request.updated_on),
        "identity_state": request.identity_state,
        "disclosure_effective_on": _day(request.disclosure_effective_on),
    }


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
